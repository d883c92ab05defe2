"""Bursts: several raws of one scene -> one merged raw and its per-pixel noise level.

Each frame is aligned to frame 0 (the reference) and merged into it in the raw domain, before
the network, one frame at a time (never more than the reference, one frame and the sums held):

- **Alignment**, coarse to fine as in HDR+ (Hasinoff et al. 2016): a luma image (the sum of the
  four packed channels, one value per Bayer quad) in a pyramid; a global shift that most blocks
  agree with (of the coarsest level's cross-correlation peaks), then tiles searched around the
  coarser level's answer at each finer one, with a sub-pixel fit of the last search. A robust
  affine fit to the tiles' displacements (translation, rotation, scale, shear), started where
  most tiles agree and refined by Gauss-Newton on the luma, is the camera's motion; each
  tile keeps its own displacement where it matches clearly better (parallax, a lens' distortion).
  Frames are resampled per packed channel (bilinear), which respects the colour filter.
- **Merge**: a Wiener-like per-pixel weight from the residual against the reference, smoothed
  and measured against the noise it should have: full weight where the residual is noise,
  none where it is not (a person walking through, what alignment missed), so nothing ghosts.
- **Noise**: the merged image's noise variance is one frame's times ``sum(w^2) / sum(w)^2`` at
  each pixel: where fewer frames were merged, the noise map the network takes says more noise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import BurstError, MissingInputError
from .progress import Progress, Stage
from .raw import RawImage, channel_positions, even_crop, pack, read_raw, validate_raw

#: Pyramid levels below the packed luma, each a box-downsampling by this factor of the one above.
PYRAMID_FACTORS = (2, 4)
#: Tile side (pixels of its level) and search radius at each level, coarse to fine (HDR+'s).
TILE_SIZES = (16, 16, 32)
SEARCH_RADII = (4, 2, 1)
#: The global shift's candidates: this many peaks of the coarsest level's cross-correlation.
SHIFT_CANDIDATES = 6
#: ... judged by the median over blocks of this many pixels a side (coarsest level) of their
#: squared difference: a subject crossing the frame covers fewer than half of the blocks.
SHIFT_BLOCK = 4
#: The merge judges the residual as box means over these many packed pixels a side: the
#: larger boxes see faint differences that cover an area (an object's low-contrast parts).
RESIDUAL_BOXES = (5, 15, 45)
#: The median of a chi-squared variable of one degree of freedom (a squared unit Gaussian).
CHI2_MEDIAN = 0.4549
#: A rejected pixel rejects its neighbours this far (packed pixels a side).
REJECT_SPREAD = 5
#: Weights fall from 1 to 0 as the smoothed residual's square goes from this many expected
#: noise variances to the next: full weight for 95 % of static pixels, none beyond 4 sigma.
REJECT_FROM, REJECT_TO = 4.0, 16.0
#: A tile keeps its own displacement where its match beats the global motion's by this factor
#: of the noise's share of the tile's squared difference.
LOCAL_GAIN = 8.0


@dataclass
class MergedBurst:
    """A merged burst: frame 0's metadata and view, the merged mosaic, and its noise."""

    raw: RawImage  # frame 0 as read, with the merged mosaic
    #: (h, w) float32 per packed pixel: the merged noise variance over one frame's (1: frame 0 alone)
    variance_scale: np.ndarray
    #: one frame's noise (a, b) at ratio 1: variance ``a * signal + b`` of packed values
    noise: tuple[float, float]
    frames: int
    #: per extra frame: its fitted motion (dy, dx in packed pixels at the centre; rotation in degrees)
    #: and the share of its weight it kept (1: all merged, 0: all rejected)
    motions: list[dict] = dataclasses.field(default_factory=list)

    @property
    def effective_frames(self) -> float:
        """How many frames the merge is worth, on average: one over the mean variance scale."""
        return float(1.0 / np.mean(self.variance_scale))

    def metadata(self) -> dict:
        return {
            "burst_frames": self.frames,
            "burst_effective_frames": round(self.effective_frames, 2),
            "burst_motions": self.motions,
        }


# --- checking a burst before any work -------------------------------------------------------


def frame_identity(source) -> tuple[str, tuple[int, int], str]:
    """(camera, visible size, CFA) of a frame: a RawImage's, or a file's from its header only."""
    if isinstance(source, RawImage):
        return f"{source.make} {source.model}".strip(), tuple(np.shape(source.mosaic)), source.cfa
    import rawpy

    from .raw import bayer_cfa
    from .tiff_tags import camera_and_exposure

    path = os.fspath(source)
    if not os.path.isfile(path):
        raise MissingInputError(
            f"{path} {'is a folder, not a raw file' if os.path.isdir(path) else 'does not exist'}."
        )
    name = os.path.basename(path)
    handle = rawpy.RawPy()
    try:
        handle.open_file(path)  # the header only: no pixels are decoded
        cfa = bayer_cfa(handle, name)
        _, _, make, model = camera_and_exposure(handle, path)
        size = (int(handle.sizes.height), int(handle.sizes.width))
    except rawpy.LibRawError as err:
        from .errors import RawReadError

        raise RawReadError(f"LibRaw cannot read {name}: {type(err).__name__}: {err}") from err
    finally:
        handle.close()
    return f"{make} {model}".strip(), size, cfa


def check_burst(sources) -> list:
    """The frames of a burst as a list (paths or RawImages), once each is known to come from
    the same camera with the same size and colour filter as frame 0; BurstError otherwise.
    Only headers are read."""
    if isinstance(sources, str | os.PathLike | RawImage) or not isinstance(sources, Sequence):
        raise BurstError("A burst is a list of frames (paths or RawImages), frame 0 the reference.")
    frames = list(sources)
    if len(frames) < 2:
        raise BurstError(
            f"A burst needs at least two frames of one scene, got {len(frames)}: enhance a single frame without --burst."
        )
    names = [_name(frame, i) for i, frame in enumerate(frames)]
    reference = frame_identity(frames[0])
    for i, frame in enumerate(frames[1:], start=1):
        identity = frame_identity(frame)
        for what, ours, theirs in zip(("camera", "size", "colour filter"), reference, identity, strict=True):
            if ours != theirs:
                shown = [
                    ("x".join(map(str, v)) if isinstance(v, tuple) else (v or "unknown"))
                    for v in (theirs, ours)
                ]
                raise BurstError(
                    f"Frame {i} ({names[i]}) is not of the burst: its {what} is {shown[0]}, "
                    f"frame 0's ({names[0]}) is {shown[1]}."
                )
    return frames


def _name(frame, index: int) -> str:
    if isinstance(frame, RawImage):
        return os.path.basename(frame.path) if frame.path else f"RawImage {index}"
    return os.path.basename(os.fspath(frame))


# --- alignment --------------------------------------------------------------------------------


def _box_down(image: np.ndarray, factor: int) -> np.ndarray:
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32)


def luma_pyramid(packed: np.ndarray) -> list[np.ndarray]:
    """The packed image's luma (one value per Bayer quad) and its downsampled levels, finest first."""
    levels = [packed.sum(axis=0, dtype=np.float32)]
    for factor in PYRAMID_FACTORS:
        levels.append(_box_down(levels[-1], factor))
    return levels


def _global_shift(reference: np.ndarray, frame: np.ndarray) -> tuple[int, int]:
    """The integer shift (dy, dx) that best moves `frame` onto `reference`: of the peaks of
    their cross-correlation (zero-mean, Hann-windowed, through the FFT) and no shift at all, the
    one most blocks agree with. The highest peak alone follows whatever has the most contrast,
    which may be a subject crossing the frame rather than the frame itself."""
    window = np.outer(np.hanning(reference.shape[0]), np.hanning(reference.shape[1])).astype(np.float32)
    a = np.fft.rfft2((reference - reference.mean()) * window)
    b = np.fft.rfft2((frame - frame.mean()) * window)
    correlation = np.fft.irfft2(b * np.conj(a), s=reference.shape)
    h, w = reference.shape
    candidates = [(0, 0)]
    for _ in range(SHIFT_CANDIDATES):
        dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
        candidates.append((int(dy - h if dy > h // 2 else dy), int(dx - w if dx > w // 2 else dx)))
        rows = np.arange(dy - 2, dy + 3) % h
        cols = np.arange(dx - 2, dx + 3) % w
        correlation[np.ix_(rows, cols)] = -np.inf  # the next peak, not this one's shoulder
    return min(dict.fromkeys(candidates), key=lambda shift: _block_median_cost(reference, frame, shift))


def _block_median_cost(reference: np.ndarray, frame: np.ndarray, shift: tuple[int, int]) -> float:
    """The median over blocks of the squared difference of `reference` and `frame` moved by
    `shift` (where the two overlap); infinite where too little overlaps."""
    dy, dx = shift
    h, w = reference.shape
    ours = reference[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    theirs = frame[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    if min(ours.shape) < 2 * SHIFT_BLOCK:
        return float("inf")
    return float(np.median(_box_down((ours - theirs) ** 2, SHIFT_BLOCK)))


def _tile_search(reference: np.ndarray, frame: np.ndarray, guess: np.ndarray, tile: int, radius: int):
    """For each tile of `reference` (a grid of (th, tw) tiles), the integer displacement within
    `radius` of its `guess` (th, tw, 2) that best matches `frame`, and the squared differences
    of every candidate: (th, tw, 2) int, (th, tw, 2r+1, 2r+1) float."""
    th, tw = guess.shape[:2]
    short = (max(0, th * tile - reference.shape[0]), max(0, tw * tile - reference.shape[1]))
    if any(short):  # a small frame's coarsest level is smaller than one tile
        extra = ((0, short[0]), (0, short[1]))
        reference, frame = np.pad(reference, extra, mode="edge"), np.pad(frame, extra, mode="edge")
    ref_tiles = reference[: th * tile, : tw * tile].reshape(th, tile, tw, tile).transpose(0, 2, 1, 3)
    margin = int(np.abs(guess).max()) + radius + 1
    padded = np.pad(frame, margin, mode="edge")
    span = np.arange(tile + 2 * radius)
    rows = margin - radius + np.arange(th)[:, None, None] * tile + guess[..., 0, None] + span  # (th, tw, n)
    cols = margin - radius + np.arange(tw)[None, :, None] * tile + guess[..., 1, None] + span
    stack = padded[rows[..., :, None], cols[..., None, :]]  # (th, tw, tile + 2r, tile + 2r)
    side = 2 * radius + 1
    costs = np.empty((th, tw, side, side), dtype=np.float32)
    for i in range(side):
        for j in range(side):
            diff = stack[:, :, i : i + tile, j : j + tile] - ref_tiles
            costs[:, :, i, j] = np.einsum("abij,abij->ab", diff, diff)
    best = costs.reshape(th, tw, -1).argmin(axis=-1)
    step = np.stack([best // side - radius, best % side - radius], axis=-1)
    return guess + step, costs


def _costs_at(
    reference: np.ndarray, frame: np.ndarray, tiles: np.ndarray, displacement: np.ndarray, tile: int
):
    """The squared differences of the tiles `tiles` (k, 2: row, column of the grid) of `reference`
    with `frame` moved by their integer `displacement` (k, 2); edges held, as in the search."""
    h, w = frame.shape
    span = np.arange(tile)
    rows = tiles[:, 0, None] * tile + span
    cols = tiles[:, 1, None] * tile + span
    ours = reference[rows[:, :, None], cols[:, None, :]]
    rows = np.clip(rows + displacement[:, 0, None], 0, h - 1)
    cols = np.clip(cols + displacement[:, 1, None], 0, w - 1)
    diff = frame[rows[:, :, None], cols[:, None, :]] - ours
    return np.einsum("kij,kij->k", diff, diff)


def _subpixel(costs: np.ndarray, radius: int) -> np.ndarray:
    """Each tile's best candidate (th, tw, 2), relative to the search's centre, refined by a
    parabola through it and its neighbours along each axis (none where it lies on the edge)."""
    th, tw, side, _ = costs.shape
    best = costs.reshape(th, tw, -1).argmin(axis=-1)
    by, bx = best // side, best % side
    a, b = np.meshgrid(np.arange(th), np.arange(tw), indexing="ij")
    mid = costs[a, b, by, bx]
    offsets = []
    for index, neighbours in (
        (by, lambda k: costs[a, b, np.clip(by + k, 0, side - 1), bx]),
        (bx, lambda k: costs[a, b, by, np.clip(bx + k, 0, side - 1)]),
    ):
        lo, hi = neighbours(-1), neighbours(1)
        curvature = lo - 2 * mid + hi
        interior = (index > 0) & (index < side - 1) & (curvature > 0)
        fraction = np.where(interior, 0.5 * (lo - hi) / np.where(interior, curvature, 1.0), 0.0)
        offsets.append(index - radius + np.clip(fraction, -0.5, 0.5))
    return np.stack(offsets, axis=-1)


def _grid_shape(level: np.ndarray, tile: int) -> tuple[int, int]:
    return max(1, level.shape[0] // tile), max(1, level.shape[1] // tile)


def _refine(guess_tiles: np.ndarray, guess_tile: int, tile: int, factor: int, shape) -> np.ndarray:
    """A coarser level's tile displacements as the guesses for this level's tiles: each tile
    takes the displacement of the coarser tile holding its centre, scaled by `factor`."""
    th, tw = shape
    cy = ((np.arange(th) + 0.5) * tile / factor / guess_tile).astype(int).clip(0, guess_tiles.shape[0] - 1)
    cx = ((np.arange(tw) + 0.5) * tile / factor / guess_tile).astype(int).clip(0, guess_tiles.shape[1] - 1)
    return guess_tiles[cy[:, None], cx[None, :]] * factor


@dataclass
class Motion:
    """Where each pixel p of the reference lies in a frame, in packed pixels: ``p + d(p)``, with
    d the global affine motion plus, on tiles that moved otherwise, a local correction."""

    tile: int  # packed pixels a tile side
    affine: np.ndarray  # (2, 3): the global d(p) = affine @ (1, y, x)
    local: np.ndarray  # (th, tw, 2) dy, dx added at the tiles' centres (0 where the global fits)

    def summary(self, shape) -> dict:
        h, w = shape
        centre = self.affine @ np.array([1.0, h / 2, w / 2])
        rotation = np.degrees(0.5 * (self.affine[1, 1] - self.affine[0, 2]))
        return {
            "dy": round(float(centre[0]), 2),
            "dx": round(float(centre[1]), 2),
            "rotation": round(float(rotation), 3),
            "local_tiles": int(np.count_nonzero(np.any(self.local != 0, axis=-1))),
        }


def align(
    reference_levels: list[np.ndarray], frame_levels: list[np.ndarray], noise: tuple[float, float]
) -> Motion:
    """The motion of a frame against the reference, from their luma pyramids (finest first);
    `noise` is one frame's (a, b) (see :func:`estimate_frame_noise`)."""
    shift = np.array(_global_shift(reference_levels[-1], frame_levels[-1]))
    factors = (1, *PYRAMID_FACTORS)  # factors[k]: from level k-1 to level k
    guess_tile, guess = None, None
    for step, level in enumerate(range(len(reference_levels) - 1, -1, -1)):  # coarsest .. packed
        tile, radius = TILE_SIZES[step], SEARCH_RADII[step]
        shape = _grid_shape(reference_levels[level], tile)
        if guess is None:
            guess = np.broadcast_to(shift, (*shape, 2)).copy()
        else:
            guess = _refine(guess, guess_tile, tile, factors[level + 1], shape)
        centre = guess
        guess, costs = _tile_search(reference_levels[level], frame_levels[level], centre, tile, radius)
        guess_tile = tile
    displacement = centre + _subpixel(costs, radius)
    th, tw = displacement.shape[:2]
    packed_tile = tile
    centres = np.stack(
        np.meshgrid((np.arange(th) + 0.5) * packed_tile, (np.arange(tw) + 0.5) * packed_tile, indexing="ij"),
        axis=-1,
    )
    # how sharply a tile locates its match (texture against noise): such tiles count more
    flat_costs = costs.reshape(th, tw, -1)
    spread = np.maximum(flat_costs.mean(axis=-1) - flat_costs.min(axis=-1), 0.0)
    # a packed luma pixel sums four channels of variance a s + b; the cost of a tile of two
    # frames' difference then fluctuates by about 8 (a s + b) x tile (its standard deviation)
    signal = np.maximum(_box_down(reference_levels[0], tile)[:th, :tw] / 4, 0.0)
    fluctuation = 8.0 * (noise[0] * signal + noise[1]) * tile
    texture = np.maximum(spread - 2.0 * fluctuation, 0.0)  # what noise alone would not give
    affine = _robust_affine(centres.reshape(-1, 2), displacement.reshape(-1, 2), texture.ravel())
    affine = _refine_affine(reference_levels[1], frame_levels[1], affine)
    design = np.concatenate([np.ones((th, tw, 1)), centres], axis=-1)
    predicted = np.einsum("ij,abj->abi", affine, design)
    # a tile keeps its own displacement only where the global motion's would cost it clearly more
    away = np.linalg.norm(displacement - predicted, axis=-1) > 1.0
    tiles = np.argwhere(away)
    at_global = _costs_at(
        reference_levels[0], frame_levels[0], tiles, np.rint(predicted[away]).astype(int), tile
    )
    local = np.zeros_like(away)
    local[away] = at_global - flat_costs.min(axis=-1)[away] > LOCAL_GAIN * fluctuation[away]
    correction = np.where(local[..., None], displacement - predicted, 0.0)
    return Motion(packed_tile, affine, correction.astype(np.float32))


def _robust_affine(points: np.ndarray, displacement: np.ndarray, reliability: np.ndarray) -> np.ndarray:
    """(2, 3) affine d(p) = A @ (1, y, x) of tile displacements, robust to tiles that move
    otherwise (a subject, a wrong match): from the median shift, least squares reweighted by
    Tukey's biweight (2 packed pixels), the most textured tiles capped so that none dominates."""
    textured = reliability[reliability > 0]
    cap = float(np.percentile(textured, 75)) if textured.size >= 6 else 1.0
    prior = (np.minimum(reliability, cap) / cap if textured.size >= 6 else np.ones_like(reliability)) + 1e-3
    design = np.concatenate([np.ones((len(points), 1)), points], axis=1)
    affine = np.zeros((2, 3))
    affine[:, 0] = _most_supported(displacement, prior)
    for _ in range(8):
        residual = np.linalg.norm(design @ affine.T - displacement, axis=1)
        weights = prior * np.clip(1 - (residual / 2.0) ** 2, 0, None) ** 2
        if np.count_nonzero(weights) < 6:
            break
        sw = np.sqrt(weights)[:, None]
        affine = np.linalg.lstsq(design * sw, displacement * sw, rcond=None)[0].T
    return affine


#: Gauss-Newton steps refining the affine motion on the half-resolution luma: the widths of
#: their Tukey weights, in robust standard deviations of the residual (wide first, as the
#: start may be a pixel off, where edges' residuals stand far above the noise).
REFINE_WIDTHS = (16.0, 10.0, 6.0, 4.685, 4.685, 4.685)


def _refine_affine(reference: np.ndarray, frame: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The affine motion (2, 3, packed pixels) refined by Gauss-Newton steps on the luma at half
    resolution (`reference`, `frame`: level 1), each pixel weighted by Tukey's biweight of its
    residual (a subject, what moved otherwise, drops out): the tiles' sub-pixel fits lock to
    whole pixels and leave a fraction of one, which the merge would take for motion."""
    import torch
    import torch.nn.functional as F

    h, w = reference.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / 60_000))))  # sixty thousand pixels fit six numbers
    ref = reference[::step, ::step]
    py = (np.arange(0, h, step, dtype=np.float32) * 2 + 0.5)[:, None] * np.ones((1, ref.shape[1]), np.float32)
    px = (np.arange(0, w, step, dtype=np.float32) * 2 + 0.5)[None, :] * np.ones((ref.shape[0], 1), np.float32)
    gy, gx = np.gradient(frame)
    stack = torch.from_numpy(np.stack([frame, gy, gx]).astype(np.float32))[None]
    design = np.stack([np.ones_like(py), py, px]).reshape(3, -1).astype(np.float64)
    affine = affine.copy()
    for width in REFINE_WIDTHS:
        qy = py + affine[0, 0] + affine[0, 1] * py + affine[0, 2] * px
        qx = px + affine[1, 0] + affine[1, 1] * py + affine[1, 2] * px
        iy, ix = (qy - 0.5) / 2, (qx - 0.5) / 2  # level 1's pixel indices
        inside = ((iy >= 0) & (iy <= h - 1) & (ix >= 0) & (ix <= w - 1)).ravel()
        grid = torch.from_numpy(
            np.stack([ix * (2.0 / max(w - 1, 1)) - 1, iy * (2.0 / max(h - 1, 1)) - 1], -1)
        )
        with torch.inference_mode():
            sampled = F.grid_sample(stack, grid[None].float(), mode="bilinear", align_corners=True)[0].numpy()
        value, grad_y, grad_x = (v.ravel().astype(np.float64) / (1, 2, 2)[k] for k, v in enumerate(sampled))
        residual = value - ref.ravel()
        spread = 1.4826 * np.median(np.abs(residual[inside])) + 1e-12
        weights = np.clip(1 - (residual / (width * spread)) ** 2, 0, None) ** 2 * inside
        jacobian = np.concatenate([grad_y[None] * design, grad_x[None] * design])  # (6, n)
        weighted = jacobian * weights
        delta = np.linalg.lstsq(weighted @ jacobian.T, -(weighted @ residual), rcond=None)[0]
        affine += delta.reshape(2, 3)
    return affine


def _most_supported(displacement: np.ndarray, prior: np.ndarray, radius: float = 2.0) -> np.ndarray:
    """The tile displacement (2,) that the most tiles agree with (within `radius` packed
    pixels), textured tiles counting more: the camera moves most of the frame, so a bright
    subject crossing it, however textured, is outvoted (a weighted median is not)."""
    votes = np.minimum(prior * 10.0, 1.0)  # a textured tile counts, but a few cannot outweigh the frame
    step = max(1, len(displacement) // 400)
    candidates = displacement[::step]
    support = np.array([votes[np.linalg.norm(displacement - c, axis=1) < radius].sum() for c in candidates])
    best = candidates[int(np.argmax(support))]
    near = np.linalg.norm(displacement - best, axis=1) < radius
    return np.average(displacement[near], axis=0, weights=votes[near])


def warp(packed: np.ndarray, motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """`packed` (4, h, w) resampled onto the reference's pixels (bilinear, each channel alike, so
    the colour filter is respected), and the mask (h, w) of pixels whose source lies inside it."""
    import torch
    import torch.nn.functional as F

    _, h, w = packed.shape
    a = torch.from_numpy(motion.affine.astype(np.float32))
    ys = torch.arange(h, dtype=torch.float32)[:, None]
    xs = torch.arange(w, dtype=torch.float32)[None, :]
    y = ys + a[0, 0] + a[0, 1] * ys + a[0, 2] * xs
    x = xs + a[1, 0] + a[1, 1] * ys + a[1, 2] * xs
    if np.any(motion.local):
        th, tw = motion.local.shape[:2]
        local = torch.from_numpy(np.ascontiguousarray(motion.local.transpose(2, 0, 1)))[None]
        size = (th * motion.tile, tw * motion.tile)
        local = F.interpolate(local, size=size, mode="bilinear", align_corners=False)
        local = F.pad(local, (0, max(0, w - size[1]), 0, max(0, h - size[0])), mode="replicate")
        y = y + local[0, 0, :h, :w]
        x = x + local[0, 1, :h, :w]
    inside = ((y >= 0) & (y <= h - 1) & (x >= 0) & (x <= w - 1)).numpy()
    grid = torch.stack([x * (2.0 / max(w - 1, 1)) - 1.0, y * (2.0 / max(h - 1, 1)) - 1.0], dim=-1)[None]
    del x, y
    with torch.inference_mode():
        out = F.grid_sample(
            torch.from_numpy(packed)[None], grid, mode="bilinear", padding_mode="border", align_corners=True
        )
    return out[0].numpy(), inside


# --- merging -----------------------------------------------------------------------------------


def estimate_frame_noise(packed: np.ndarray) -> tuple[float, float]:
    """One frame's noise (a, b) at ratio 1 (variance ``a * signal + b``), measured on the frame
    brought to a normal level first (the estimator's limits are set for amplified images)."""
    import torch

    from .noise import estimate_noise

    level = float(np.percentile(packed[:, ::4, ::4], 99.5))
    gain = 0.5 / level if level > 0 else 1.0
    with torch.inference_mode():
        a, b = estimate_noise(torch.from_numpy(packed * np.float32(gain))[None])
    # five digits: the convolution's last bits vary with the thread count, the merge must not
    return float(f"{float(a[0]) / gain:.5g}"), float(f"{float(b[0]) / gain**2:.5g}")


def expected_residuals(
    reference_luma: np.ndarray, noise: tuple[float, float]
) -> list[tuple[int, np.ndarray]]:
    """Per box of :data:`RESIDUAL_BOXES`, the variance (h, w) the box mean of a static frame's
    residual against the reference has: their four-channel sums' noise, 2 (a S + 4 b) / n."""
    from scipy.ndimage import uniform_filter

    a, b = noise
    expected = []
    for box in RESIDUAL_BOXES:
        signal = np.maximum(uniform_filter(reference_luma, box, mode="nearest"), 0.0)
        signal *= 2.0 * a / box**2
        signal += 8.0 * b / box**2
        expected.append((box, np.maximum(signal, 1e-20)))
    return expected


def residual_weights(
    reference_luma: np.ndarray, frame: np.ndarray, inside: np.ndarray, expected: list[tuple[int, np.ndarray]]
) -> np.ndarray:
    """(h, w) weights of an aligned frame against the reference (its luma: the four channels
    summed): 1 where their residual is noise, falling to 0 where it stands above the `expected`
    (:func:`expected_residuals`: motion, misalignment). The residual is judged at several scales
    (a small box sees edges, larger ones faint differences that cover an area), and a rejection
    spreads to its neighbours, so that an object's rim does not ghost."""
    from scipy.ndimage import minimum_filter, uniform_filter

    difference = frame.sum(axis=0, dtype=np.float32)
    difference -= reference_luma
    weights = inside.astype(np.float32)
    for box, variance in expected:
        z = uniform_filter(difference, box, mode="nearest")
        z *= z
        z /= variance
        # most of a burst is static: its median says how far the noise model's variance falls
        # short at this scale (row noise, a misjudged gain); never less than the model's
        z /= np.clip(float(np.median(z[::4, ::4])) / CHI2_MEDIAN, 1.0, 4.0)
        np.minimum(weights, np.clip((REJECT_TO - z) / (REJECT_TO - REJECT_FROM), 0.0, 1.0), out=weights)
    return minimum_filter(weights, REJECT_SPREAD, mode="nearest")


def merge_steps(
    sources, prepare: Callable[[RawImage], RawImage] | None = None
) -> Generator[Progress, None, MergedBurst]:
    """Merge a burst: a generator of Progress (``Stage.ALIGN`` and ``Stage.MERGE``, per extra
    frame) returning a :class:`MergedBurst`; closing it stops between frames.

    Parameters
    ----------
    sources
        Paths or RawImages of one scene, frame 0 the reference (checked by :func:`check_burst`).
    prepare
        Applied to each frame right after reading (e.g. a camera profile's correction).
    """
    frames = check_burst(sources)
    reference_raw = _read(frames[0], prepare)
    reference = pack(reference_raw, clip=False)
    noise = estimate_frame_noise(reference)
    reference_levels = luma_pyramid(reference)
    expected = expected_residuals(reference_levels[0], noise)
    total = reference.copy()
    weight_sum = np.ones(reference.shape[1:], dtype=np.float32)
    square_sum = np.ones(reference.shape[1:], dtype=np.float32)
    motions = []
    count = len(frames) - 1
    yield Progress(Stage.READ, 1, len(frames))
    for index, source in enumerate(frames[1:], start=1):
        raw = _read(source, prepare)
        packed = pack(raw, clip=False)
        del raw
        motion = align(reference_levels, luma_pyramid(packed), noise)
        aligned, inside = warp(packed, motion)
        del packed
        yield Progress(Stage.ALIGN, index, count)
        weights = residual_weights(reference_levels[0], aligned, inside, expected)
        aligned *= weights
        total += aligned
        del aligned
        weight_sum += weights
        square_sum += weights * weights
        motions.append({**motion.summary(reference.shape[1:]), "kept": round(float(weights.mean()), 3)})
        yield Progress(Stage.MERGE, index, count)
    total /= weight_sum
    mosaic = mosaic_from_merged(total, reference_raw)
    merged = dataclasses.replace(reference_raw, mosaic=mosaic)
    variance_scale = square_sum / (weight_sum * weight_sum)
    return MergedBurst(merged, variance_scale, noise, len(frames), motions)


def merge_burst(sources, prepare=None) -> MergedBurst:
    """:func:`merge_steps` run to its end."""
    from .progress import run_to_end

    return run_to_end(merge_steps(sources, prepare))


def _read(source, prepare) -> RawImage:
    raw = validate_raw(source) if isinstance(source, RawImage) else read_raw(source)
    return prepare(raw) if prepare is not None else raw


def mosaic_from_merged(packed: np.ndarray, raw: RawImage) -> np.ndarray:
    """(4, h, w) packed at ratio 1 -> a uint16 mosaic with `raw`'s levels, shaped like its
    mosaic; values below black are kept (down to 0), so dark regions stay unbiased."""
    mosaic = raw.mosaic.copy()
    rows, cols = packed.shape[1:]
    values = np.empty((rows, cols), dtype=np.float32)
    for channel, (r, c) in enumerate(channel_positions(raw.cfa)):
        black = raw.black_level[channel]
        np.multiply(packed[channel], raw.white_level - black, out=values)
        values += black
        np.rint(values, out=values)
        np.clip(values, 0, 65535, out=values)
        mosaic[r : 2 * rows : 2, c : 2 * cols : 2] = values
    return mosaic


__all__ = ["MergedBurst", "check_burst", "even_crop", "merge_burst", "merge_steps"]

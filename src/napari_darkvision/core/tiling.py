"""Tiled inference with overlap: bounded memory at any image size, and no visible seams.

Tiles overlap by at least `overlap` packed pixels, spread evenly; each output pixel is a
weighted mean of the tiles covering it, with weights ramping down across each overlap towards a
tile's edge, where a convolutional network sees the least context.

On CPUs that compute bfloat16 natively (AVX512-BF16 or AMX), ``precision="auto"`` runs the
network in bfloat16 but for its output layer: faster, and its output differs negligibly from
float32's (the model card gives the figures; the benchmark checks them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Generator

import numpy as np

from .progress import Progress, Stage

#: Packed pixels (2.2 MP of sensor): a 12 MP frame (1424 x 2128 packed) takes 2 x 3 tiles with
#: little more overlap than DEFAULT_OVERLAP; the network runs as fast per pixel as on 512.
DEFAULT_TILE = 736
DEFAULT_OVERLAP = 32

#: Values of the `precision` argument.
PRECISIONS = ("float32", "bfloat16", "auto")
#: Set to "float32" or "bfloat16" to override what ``precision="auto"`` picks.
PRECISION_ENV = "DARKVISION_PRECISION"


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile`, overlapping by >= `overlap`: as
    few tiles as that takes, spread evenly, each starting at a multiple of `multiple` (a tile
    may then run past the end; it is cut there). `tile` must be a multiple of `multiple`.

    Aligned starts matter: a network that folds 2x2 blocks and pools sees an image shifted by a
    pixel differently, so only aligned tiles agree with a run on the whole image.
    """
    if length <= tile:
        return [0]
    units, tile_units = -(-length // multiple), tile // multiple
    overlap_units = -(-overlap // multiple)
    count = math.ceil((units - overlap_units) / (tile_units - overlap_units))
    # consecutive starts differ by at most ceil((units - tile_units) / (count - 1)) units, which
    # is at most tile_units - overlap_units; the last tile ends at units * multiple >= length
    return [i * (units - tile_units) // (count - 1) * multiple for i in range(count)]


#: Pixels this close to a tile's edge (where the network sees least context and errs most) get no
#: weight where a neighbouring tile covers them, in overlaps at least 4 times as wide.
EDGE_MARGIN = 8


def _edge_ramp(n: int) -> np.ndarray:
    """Weights rising from a tile's edge across an overlap of `n` pixels: 0 for the `margin`
    pixels at the edge, then linear, reaching 1 `margin` pixels before the overlap ends. A
    tile's rising ramp plus its neighbour's falling one is 1 everywhere in their overlap."""
    margin = min(EDGE_MARGIN, n // 4)
    return np.clip((np.arange(n, dtype=np.float32) + 1.0 - margin) / (n + 1.0 - 2 * margin), 0.0, 1.0)


def _blend_weights(length: int, starts: list[int], tile: int) -> list[np.ndarray]:
    """Per tile, its 1-D blending weights along one axis: a ramp across each overlap with a
    neighbour (down towards the tile's edge, where it sees the least context), divided by the
    sum over all tiles. The 2-D weight of a tile is the outer product of its row and column
    weights; as those sum to one along each axis, the 2-D weights sum to one everywhere."""
    sizes = [min(tile, length - start) for start in starts]
    ramps = []
    for i, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        ramp = np.ones(size, dtype=np.float32)
        if i > 0:  # overlap with the tile before
            n = starts[i - 1] + sizes[i - 1] - start
            ramp[:n] = _edge_ramp(n)
        if i + 1 < len(starts):  # overlap with the tile after
            n = start + size - starts[i + 1]
            ramp[size - n :] = np.minimum(ramp[size - n :], _edge_ramp(n)[::-1])
        ramps.append(ramp)
    total = np.zeros(length, dtype=np.float32)
    for start, ramp in zip(starts, ramps, strict=True):
        total[start : start + ramp.size] += ramp
    return [ramp / total[start : start + ramp.size] for start, ramp in zip(starts, ramps, strict=True)]


def fast_bfloat16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str | None, device) -> str:
    """The precision to run in, "float32" or "bfloat16", for `precision` on `device`.

    "auto" is bfloat16 on a CPU with native bfloat16, else float32; the environment variable
    DARKVISION_PRECISION (float32 or bfloat16) overrides what "auto" picks."""
    precision = (precision or "float32").lower()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        forced = os.environ.get(PRECISION_ENV, "").strip().lower()
        if forced in ("float32", "bfloat16"):
            return forced
        return "bfloat16" if getattr(device, "type", device) == "cpu" and fast_bfloat16() else "float32"
    return precision


def run_tiled(
    model,
    packed: np.ndarray,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device=None,
    precision: str = "float32",
    keep_levels: bool = True,
    noise: tuple[float, float] | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Apply `model` to a packed image tile by tile: a generator that yields
    ``Progress(Stage.NETWORK, tiles done, tiles in all)`` after each tile and returns the result
    (``result = yield from run_tiled(...)``). Closing it stops between tiles.

    Parameters
    ----------
    model : UNet
        The network (see :func:`~.model.load_model`).
    packed : numpy.ndarray
        (4, h, w) float32: the amplified packed raw, black 0 and white 1 before amplification.
    tile, overlap : int
        Tile side (rounded down to a multiple of ``model.config.multiple``) and the least overlap
        of neighbouring tiles (at most a quarter tile), in packed pixels.
    device : torch.device or str, optional
        Where to run; the model's own device when None.
    precision : {"float32", "bfloat16", "auto"}
        See :func:`resolve_precision`.
    keep_levels : bool
        Give each channel of the result its mean in the input (:func:`keep_channel_levels`).
    noise : tuple, optional
        (a, b), the input's noise variance ``a * signal + b`` in its (amplified, normalised) units,
        e.g. from a camera profile; estimated from the whole image when None (noise_map models).
        A third item, an (h, w) array, scales that variance per pixel (a merged burst's).

    Returns
    -------
    numpy.ndarray
        (4, h, w) float32 in [0, 1], the clean packed raw; a ModelError where it is not finite.
    """
    import torch

    multiple = model.config.multiple
    tile = max(multiple, tile // multiple * multiple)
    overlap = min(overlap, tile // 4)
    device = torch.device(device or next(model.parameters()).device)
    autocast = resolve_precision(precision, device) == "bfloat16"
    _, h, w = packed.shape
    ys, xs = tile_starts(h, tile, overlap, multiple), tile_starts(w, tile, overlap, multiple)
    weights_y, weights_x = _blend_weights(h, ys, tile), _blend_weights(w, xs, tile)
    places = [
        (y, wy, x, wx)
        for y, wy in zip(ys, weights_y, strict=True)
        for x, wx in zip(xs, weights_x, strict=True)
    ]
    out = np.zeros(packed.shape, dtype=np.float32)
    noise = _noise_level(model, packed, noise, device)

    def network(place) -> torch.Tensor:
        y, wy, x, wx = place
        window = (slice(y, y + wy.size), slice(x, x + wx.size))
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            result = _run_tile(model, packed[(slice(None), *window)], _tile_noise(noise, window), device)
        return result.mul_(torch.from_numpy(wy[:, None] * wx[None, :]))

    if device.type == "cpu":  # the same bits at any thread count (core.threads)
        from .threads import map_in_order

        results = map_in_order(network, places)
    else:
        results = (network(place) for place in places)
    try:
        for done, ((y, wy, x, wx), result) in enumerate(zip(places, results, strict=True), start=1):
            # in the tiles' order, whichever finished first: one order of the additions
            torch.from_numpy(out[:, y : y + wy.size, x : x + wx.size]).add_(result)
            yield Progress(Stage.NETWORK, done, len(places))
    finally:
        results.close()
    return keep_channel_levels(out, packed) if keep_levels else out


def _noise_level(model, packed: np.ndarray, noise: tuple[float, float] | None, device):
    """The noise (a, b) as tensors on `device`: given, or measured on the whole image for a model
    that takes it (one sensor, one noise level); None for a model that does not."""
    import torch

    if noise is not None:
        levels = tuple(torch.tensor([float(v)], device=device) for v in noise[:2])
        return levels + tuple(noise[2:])  # a per-pixel scale is cut per tile
    if not model.config.noise_map:
        return None
    return tuple(torch.tensor([v], device=device) for v in image_noise(packed))


def image_noise(packed: np.ndarray) -> tuple[float, float]:
    """The noise (a, b) of a whole packed (4, h, w) image (:func:`~.noise.estimate_noise`),
    computed on a fixed number of threads: the same value, to the bit, at any thread count."""
    import torch

    from .noise import estimate_noise
    from .threads import run_on_work_threads

    return run_on_work_threads(
        lambda: tuple(float(v[0]) for v in estimate_noise(torch.from_numpy(packed)[None]))
    )


def _tile_noise(noise, window):
    """The noise for one tile: (a, b), with the tile's part of a per-pixel scale (1, 1, th, tw)."""
    if noise is None or len(noise) < 3:
        return noise
    import torch

    return (*noise[:2], torch.from_numpy(np.ascontiguousarray(noise[2][window]))[None, None])


def _run_tile(model, tile: np.ndarray, noise, device):
    """The network on one (4, th, tw) tile, padded to its multiple: (4, th, tw) float32 on the CPU."""
    import torch
    import torch.nn.functional as F

    from .model import memory_format

    multiple = model.config.multiple
    _, th, tw = tile.shape
    t = torch.from_numpy(tile)[None].to(device, torch.float32)
    pad_h, pad_w = (-th) % multiple, (-tw) % multiple
    if pad_h or pad_w:
        t = F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")
    if noise is not None and len(noise) > 2:
        scale = noise[2].to(device, torch.float32)
        noise = (
            *noise[:2],
            F.pad(scale, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else scale,
        )
    result = model(t.contiguous(memory_format=memory_format(device)), noise)[0, :, :th, :tw].float()
    if not torch.isfinite(result).all():
        from .errors import ModelError

        raise ModelError("The network's output is not finite (NaN or infinity): its weights are damaged.")
    return result.clamp_(0.0, 1.0).cpu()


#: How far :func:`keep_channel_levels` may move a channel: it corrects a network's small cast,
#: it does not rescue a wrong ratio.
LEVEL_GAIN_LIMITS = (0.8, 1.25)


def keep_channel_levels(result: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Scale each channel of a (4, h, w) network result so that its mean is the input's (in place).

    Noise is zero-mean (the input keeps values below black), so the input's channel means are
    unbiased measurements of the scene's, to a precision no network can beat: it cannot tell
    the realised noise's mean from the signal. A network's cast is its own bias; its measured
    effect is in the model card ("Channel levels")."""
    wanted = packed.mean(axis=(1, 2), dtype=np.float64)
    got = result.mean(axis=(1, 2), dtype=np.float64)
    for c in range(result.shape[0]):
        if wanted[c] > 0 and got[c] > 0:
            result[c] *= np.float32(np.clip(wanted[c] / got[c], *LEVEL_GAIN_LIMITS))
    return np.clip(result, 0.0, 1.0, out=result)

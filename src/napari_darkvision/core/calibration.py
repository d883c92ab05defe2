"""Calibrate to a camera: dark frames -> a :class:`CameraProfile`; a profile applied to a shot.

A dark frame (lens cap on, the ISO and exposure time of the dark shots) records the sensor's fixed
pattern: the black level as it really is, drifting smoothly across the frame (dark shading, amp
glow), column and row offsets, hot pixels. Amplified x100-x300, a 2 DN error there is a colour
cloud no denoiser can tell from the scene. The mean of a few frames measures that pattern; the
frames' differences measure the read noise, which the network is then told instead of guessing.

The dark level of a pixel is modelled as ``shading + column offset + row offset (+ its own
offset where that stands out of the frames' noise)``: the shading is a per-channel low-pass (block
means, interpolated), so the noise of a few frames is not baked into every pixel. The profile
format is described in docs/calibration.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CalibrationError
from .raw import RawImage, channel_positions, read_raw

#: Written in every profile; a file without it is not a profile.
PROFILE_FORMAT = "napari-darkvision camera profile"
#: Bumped when the format changes incompatibly; older readers refuse newer files.
PROFILE_VERSION = 1
PROFILE_SUFFIX = ".npz"
MIN_FRAMES = 2
#: Shading blocks, in packed pixels (a block of 16 x 16 averages 256 pixels of each frame).
SHADING_BLOCK = 16
#: A pixel this many read-noise sigmas above its same-colour neighbours in the mean dark frame
#: is hot: replaced from its neighbours, not corrected (its dark current is noisy and unstable).
HOT_SIGMAS = 6.0
#: A pixel's own offset is kept where it stands this many sigmas of the mean frame's noise out.
OFFSET_SIGMAS = 4.0
#: Exposure times closer than this (relative) count as the same setting.
EXPOSURE_TOLERANCE = 0.05


class ProfileMismatchWarning(UserWarning):
    """A profile applied to a shot of another camera, ISO or exposure time."""


@dataclass
class CameraProfile:
    """One camera's dark pattern and noise at one ISO and exposure time (DN of its raw files)."""

    make: str
    model: str
    iso: float
    exposure_time: float
    shape: tuple[int, int]  # the mosaic's (H, W)
    cfa: str
    frames: int
    black_metadata: tuple[float, float, float, float]  # per packed channel R, G1, B, G2
    black_measured: tuple[float, float, float, float]  # mean dark level per channel
    white_level: float
    read_noise_dn: tuple[float, float, float, float]  # per-pixel temporal sigma (row noise apart)
    row_noise_dn: float  # temporal sigma of a whole row's offset
    shading_grid: np.ndarray  # (4, gh, gw) float32: block means of the dark level per channel
    block: int  # packed pixels per shading block
    column_offsets: np.ndarray  # (W,) float32, DN, high-pass (the shading holds the rest)
    row_offsets: np.ndarray  # (H,) float32
    hot_index: np.ndarray  # int64 flat indices of hot pixels in the mosaic
    offset_index: np.ndarray  # int64 flat indices of pixels with their own significant offset
    offset_value: np.ndarray  # float32 DN
    gain: float | None = None  # system gain K, DN per electron, from flat pairs
    path: str = ""
    version: int = PROFILE_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()

    def shading(self) -> np.ndarray:
        """(H, W) float32: the smooth dark level of each pixel (block means, interpolated)."""
        return _shading_map(self.shading_grid, self.shape, self.cfa, self.block)

    def dark_level(self) -> np.ndarray:
        """(H, W) float32: the whole modelled dark level of each pixel, in DN."""
        dark = self.shading()
        dark += self.column_offsets[None, :]
        dark += self.row_offsets[:, None]
        dark.ravel()[self.offset_index] += self.offset_value
        return dark

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the profile as one .npz (a JSON header and plain arrays; no pickle)."""
        from .output import write_atomically

        header = {k: v for k, v in dataclasses.asdict(self).items() if k not in _ARRAYS and k != "path"}
        header["format"] = PROFILE_FORMAT
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, header=np.array(json.dumps(header)), **arrays)

        return write_atomically(os.fspath(path), write, overwrite=overwrite, formats=[PROFILE_SUFFIX])

    def summary(self) -> str:
        """What was measured, in a few lines, for a person."""
        dark = self.shading()
        spread = [float(np.ptp(dark[r::2, c::2])) for r, c in channel_positions(self.cfa)]
        lines = [
            f"camera {self.camera or '(unknown)'}, ISO {self.iso:g}, exposure {self.exposure_time:g} s, "
            f"{self.shape[1]}x{self.shape[0]} {self.cfa}, {self.frames} dark frames",
            "black level measured "
            + _four(self.black_measured)
            + " vs metadata "
            + _four(self.black_metadata),
            f"hot pixels {self.hot_index.size} ({1e6 * self.hot_index.size / np.prod(self.shape):.0f} per MP), "
            f"own offsets {self.offset_index.size}",
            "read noise " + _four(self.read_noise_dn) + f" DN, row noise {self.row_noise_dn:.2f} DN",
            "dark shading peak-to-peak " + _four(spread) + " DN",
            f"column banding {np.std(self.column_offsets):.2f} DN rms, row banding "
            f"{np.std(self.row_offsets):.2f} DN rms",
        ]
        if self.gain is not None:
            lines.append(f"gain K {self.gain:.3f} DN per electron")
        return "\n".join(lines)


_ARRAYS = ("shading_grid", "column_offsets", "row_offsets", "hot_index", "offset_index", "offset_value")


def _four(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _shading_map(grid: np.ndarray, shape, cfa: str, block: int) -> np.ndarray:
    h, w = shape
    out = np.empty((h, w), dtype=np.float32)
    for channel, (r, c) in enumerate(channel_positions(cfa)):
        cells = grid[channel].astype(np.float64)
        smooth = _interpolation(len(range(r, h, 2)), block, cells.shape[0]) @ cells
        out[r::2, c::2] = smooth @ _interpolation(len(range(c, w, 2)), block, cells.shape[1]).T
    return out


def _interpolation(n: int, block: int, cells: int) -> np.ndarray:
    """(n, cells) weights: linear interpolation (and extrapolation at the ends) between the
    centres of blocks of `block` pixels."""
    weights = np.zeros((n, cells))
    if cells == 1:
        weights[:, 0] = 1.0
        return weights
    u = (np.arange(n) + 0.5) / block - 0.5
    low = np.clip(np.floor(u).astype(int), 0, cells - 2)
    frac = u - low
    weights[np.arange(n), low] = 1.0 - frac
    weights[np.arange(n), low + 1] = frac
    return weights


def load_profile(path: str | os.PathLike) -> CameraProfile:
    """Read a profile written by :meth:`CameraProfile.save`; CalibrationError if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {name: data[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        raise CalibrationError(f"{path} is not a napari-darkvision camera profile ({err}).") from None
    if header.pop("format", None) != PROFILE_FORMAT:
        raise CalibrationError(f"{path} is not a napari-darkvision camera profile.")
    if int(header.get("version", 0)) > PROFILE_VERSION:
        raise CalibrationError(
            f"{path} is a version {header['version']} profile; this napari-darkvision reads up to "
            f"version {PROFILE_VERSION}: update napari-darkvision."
        )
    for name in ("shape", "black_metadata", "black_measured", "read_noise_dn"):
        header[name] = tuple(header[name])
    return CameraProfile(**header, **arrays, path=str(path.resolve()))


# --- calibrating -----------------------------------------------------------------------------


def calibrate(frames, flats=None, block: int = SHADING_BLOCK) -> CameraProfile:
    """Build a camera profile from 2-16 dark frames (paths or :class:`RawImage`).

    `flats`: optionally, pairs of flat frames (an even number; each pair of one exposure, any
    level) of the same camera and ISO, for the system gain K (photon transfer). Frames of other
    cameras, sizes, CFA, ISO or exposure times are refused with :class:`CalibrationError`."""
    frames = list(frames)
    if len(frames) < MIN_FRAMES:
        raise CalibrationError(
            f"Calibration needs at least {MIN_FRAMES} dark frames (8 or more measure the pattern "
            f"best); got {len(frames)}."
        )
    first = _as_raw(frames[0])
    total = np.zeros(first.shape, dtype=np.float64)
    squares = np.zeros(first.shape, dtype=np.float64)
    row_means = []
    for item in frames:
        raw = first if item is frames[0] else _as_raw(item)
        _check_same(first, raw, exposure=True)
        frame = raw.mosaic.astype(np.float64)
        total += frame
        squares += frame * frame
        row_means.append(frame.mean(axis=1))
    n = len(frames)
    mean = total / n
    pixel_var = np.maximum(squares - total * mean, 0.0) / (n - 1)  # temporal, row noise included
    del total, squares
    row_var = float(np.mean(np.var(np.stack(row_means), axis=0, ddof=1)))
    rough_sigma = [math.sqrt(np.percentile(pixel_var[r::2, c::2], 99.0) / 3.0) for r, c in _cells(first)]
    hot = _hot_pixels(mean, first.cfa, rough_sigma)
    sigma, row_sigma = _read_noise(pixel_var, row_var, hot, first)
    clean = _fill_hot(mean, hot, first.cfa)
    grid, columns, rows = _fit_pattern(clean, first.cfa, block)
    # what the frames' own noise puts into the offsets is shrunk away (Wiener): banding is kept
    # where it stands out, not invented where a sensor has none
    pixel = float(np.mean(np.square(sigma)))
    columns = _shrink(columns, pixel / (first.shape[0] * n))
    rows = _shrink(rows, (row_sigma**2 + pixel / first.shape[1]) / n)
    profile = CameraProfile(
        make=first.make, model=first.model, iso=float(first.iso), exposure_time=float(first.exposure_time),
        shape=tuple(first.shape), cfa=first.cfa, frames=n, black_metadata=tuple(first.black_level),
        black_measured=(0.0,) * 4, white_level=float(first.white_level), read_noise_dn=sigma,
        row_noise_dn=row_sigma, shading_grid=grid, block=block, column_offsets=columns,
        row_offsets=rows, hot_index=np.flatnonzero(hot).astype(np.int64),
        offset_index=np.zeros(0, np.int64), offset_value=np.zeros(0, np.float32),
    )  # fmt: skip
    residual = clean - profile.dark_level()
    limit = np.zeros(first.shape, dtype=np.float32)
    for (r, c), s in zip(_cells(first), sigma, strict=True):
        limit[r::2, c::2] = OFFSET_SIGMAS * s / math.sqrt(n)
    own = np.flatnonzero((np.abs(residual) > limit) & ~hot)
    profile.offset_index, profile.offset_value = (
        own.astype(np.int64),
        residual.ravel()[own].astype(np.float32),
    )
    dark = profile.dark_level()
    dark[hot] = np.nan
    profile.black_measured = tuple(float(np.nanmean(dark[r::2, c::2])) for r, c in _cells(first))
    if flats:
        profile.gain = _gain(list(flats), first, profile)
    return profile


def _as_raw(item) -> RawImage:
    return item if isinstance(item, RawImage) else read_raw(item)


def _cells(raw) -> list[tuple[int, int]]:
    return channel_positions(raw.cfa)


def _check_same(first: RawImage, raw: RawImage, exposure: bool) -> None:
    """CalibrationError unless `raw` is of the camera and settings of `first`."""
    name = os.path.basename(raw.path) or "a frame"
    problems = []
    if (raw.make, raw.model) != (first.make, first.model):
        problems.append(f"camera {raw.make} {raw.model} vs {first.make} {first.model}")
    if raw.shape != first.shape or raw.cfa != first.cfa:
        problems.append(
            f"size {raw.shape[1]}x{raw.shape[0]} {raw.cfa} vs {first.shape[1]}x{first.shape[0]} {first.cfa}"
        )
    if raw.iso != first.iso:
        problems.append(f"ISO {raw.iso:g} vs {first.iso:g}")
    if exposure and not _close(raw.exposure_time, first.exposure_time):
        problems.append(f"exposure {raw.exposure_time:g} s vs {first.exposure_time:g} s")
    if tuple(raw.black_level) != tuple(first.black_level) or raw.white_level != first.white_level:
        problems.append("black or white level in the metadata")
    if problems:
        raise CalibrationError(
            f"{name} does not match the first frame ({'; '.join(problems)}): calibrate from frames "
            "of one camera, all at the same size, ISO and exposure time."
        )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= EXPOSURE_TOLERANCE * max(abs(a), abs(b))


def _channel_median(channel: np.ndarray) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(channel, size=3, mode="mirror")


def _hot_pixels(mean: np.ndarray, cfa: str, sigma) -> np.ndarray:
    """Pixels far above their same-colour neighbours in the mean dark frame."""
    hot = np.zeros(mean.shape, dtype=bool)
    for (r, c), s in zip(channel_positions(cfa), sigma, strict=True):
        channel = mean[r::2, c::2]
        hot[r::2, c::2] = channel - _channel_median(channel) > HOT_SIGMAS * max(s, 0.5)
    return hot


def _fill_hot(mosaic: np.ndarray, hot: np.ndarray, cfa: str) -> np.ndarray:
    """A float copy of `mosaic` with hot pixels replaced by their same-colour neighbours' median."""
    out = mosaic.astype(np.float32, copy=True)
    for r, c in channel_positions(cfa):
        channel, mask = out[r::2, c::2], hot[r::2, c::2]
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            continue
        h, w = channel.shape
        near = []
        for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]:
            y, x = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            near.append(np.where(mask[y, x], np.nan, channel[y, x]))
        values = np.nanmedian(np.stack(near), axis=0) if len(near) else channel[ys, xs]
        channel[ys, xs] = np.where(np.isnan(values), np.median(channel), values)
    return out


def _read_noise(pixel_var, row_var: float, hot, raw) -> tuple[tuple[float, ...], float]:
    """Per-channel temporal sigma of a pixel without the row noise, and the row noise's."""
    total = [float(np.mean(pixel_var[r::2, c::2][~hot[r::2, c::2]])) for r, c in _cells(raw)]
    row = max(row_var - float(np.mean(total)) / raw.shape[1], 0.0)
    sigma = tuple(math.sqrt(max(v - row, 1e-6)) for v in total)
    return sigma, math.sqrt(row)


def _fit_pattern(mean: np.ndarray, cfa: str, block: int):
    """Shading grid, column and row offsets of a (hot-free) mean dark frame, fitted in turn."""
    columns = np.zeros(mean.shape[1])
    rows = np.zeros(mean.shape[0])
    window = 4 * block + 1  # sensor pixels: slower column and row drifts belong to the shading
    for _ in range(3):
        grid = _block_means(mean - columns[None, :] - rows[:, None], cfa, block)
        residual = mean - _shading_map(grid, mean.shape, cfa, block)
        columns = _high_pass((residual - rows[:, None]).mean(axis=0), window)
        rows = _high_pass((residual - columns[None, :]).mean(axis=1), window)
    return grid, columns.astype(np.float32), rows.astype(np.float32)


def _block_means(mosaic: np.ndarray, cfa: str, block: int) -> np.ndarray:
    grids = []
    for r, c in channel_positions(cfa):
        channel = mosaic[r::2, c::2]
        h, w = channel.shape
        gh, gw = max(1, round(h / block)), max(1, round(w / block))
        padded = np.full((gh * block, gw * block), np.nan)
        padded[: min(h, gh * block), : min(w, gw * block)] = channel[: gh * block, : gw * block]
        grids.append(np.nanmean(padded.reshape(gh, block, gw, block), axis=(1, 3)))
    return np.stack(grids).astype(np.float32)


def _high_pass(values: np.ndarray, window: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return values - uniform_filter1d(values, size=min(window, values.size), mode="nearest")


def _gain(flats: list, first: RawImage, profile: CameraProfile) -> float:
    """System gain K (DN per electron) from pairs of flat frames: the variance of a pair's
    difference is twice the temporal noise, ``K * signal + read noise``; the slope of that line
    through the measured read noise, fitted over all pairs and channels."""
    if len(flats) % 2:
        raise CalibrationError(f"Flat frames come in pairs of one exposure; got {len(flats)} frames.")
    dark = profile.dark_level()
    keep = np.ones(first.shape, dtype=bool)
    keep.ravel()[profile.hot_index] = False
    signals, excess = [], []
    for one, two in zip(flats[::2], flats[1::2], strict=True):
        a, b = _as_raw(one), _as_raw(two)
        _check_same(first, a, exposure=False)
        _check_same(a, b, exposure=True)
        fa, fb = a.mosaic.astype(np.float64), b.mosaic.astype(np.float64)
        unclipped = keep & (np.maximum(fa, fb) < 0.95 * first.white_level)
        for (r, c), sigma in zip(_cells(first), profile.read_noise_dn, strict=True):
            valid = unclipped[r::2, c::2]
            signal = ((fa + fb)[r::2, c::2] / 2 - dark[r::2, c::2])[valid].mean()
            variance = np.var((fa - fb)[r::2, c::2][valid]) / 2
            signals.append(signal)
            excess.append(variance - sigma**2 - profile.row_noise_dn**2)
    signals, excess = np.asarray(signals), np.asarray(excess)
    if not np.any(signals > 0):
        raise CalibrationError("The flat frames are no brighter than the dark frames: no gain to measure.")
    return float(max(np.sum(signals * excess) / np.sum(signals * signals), 0.0))


# --- applying --------------------------------------------------------------------------------


def profile_mismatches(raw: RawImage, profile: CameraProfile) -> list[str]:
    """How `raw` differs from what `profile` was made for (camera, ISO, exposure time): a list of
    sentences, empty when it matches. CalibrationError when the profile cannot apply at all."""
    if tuple(raw.shape) != tuple(profile.shape) or raw.cfa != profile.cfa:
        raise CalibrationError(
            f"The camera profile {os.path.basename(profile.path) or ''} is for {profile.shape[1]}x"
            f"{profile.shape[0]} {profile.cfa} frames; this shot is {raw.shape[1]}x{raw.shape[0]} "
            f"{raw.cfa}: calibrate this camera at this image size."
        )
    notes = []
    camera = f"{raw.make} {raw.model}".strip()
    if camera and profile.camera and camera != profile.camera:
        notes.append(f"camera {camera}, profile for {profile.camera}")
    if raw.iso > 0 and profile.iso > 0 and raw.iso != profile.iso:
        notes.append(f"ISO {raw.iso:g}, profile at ISO {profile.iso:g}")
    if (
        raw.exposure_time > 0
        and profile.exposure_time > 0
        and not _close(raw.exposure_time, profile.exposure_time)
    ):
        notes.append(f"exposure {raw.exposure_time:g} s, profile at {profile.exposure_time:g} s")
    return notes


def apply_profile(raw: RawImage, profile: CameraProfile, seed: int = 0):
    """Subtract the profile's dark level and pattern, replace its hot pixels.

    Returns ``(corrected RawImage, (a, b))``: the corrected mosaic is uint16 as before, with new
    per-channel black levels (the measured ones, raised where needed to keep every value >= 0, so
    values below black keep their noise); (a, b) is the noise variance ``a * signal + b`` in the
    normalised units of :func:`~napari_darkvision.core.raw.pack` at ratio 1 (``a`` is None unless
    the profile has a gain; see :func:`network_noise`). Warns (:class:`ProfileMismatchWarning`)
    when the shot's camera, ISO or exposure time differ from the profile's."""
    notes = profile_mismatches(raw, profile)
    if notes:
        warnings.warn(ProfileMismatchWarning(mismatch_message(notes)), stacklevel=2)
    dark = profile.dark_level()
    # dithered to whole DN: unbiased, where rounding would leave up to 0.5 DN of flat-area bias
    floor = np.floor(dark)
    frac = dark - floor
    dark_dn = floor + (np.random.default_rng(seed).random(dark.shape, dtype=np.float32) < frac)
    signal = raw.mosaic.astype(np.float32) - dark_dn
    black = []
    for channel, (r, c) in enumerate(channel_positions(raw.cfa)):
        lowest = float(signal[r::2, c::2].min())
        black.append(float(max(round(profile.black_measured[channel]), math.ceil(-lowest), 0)))
        signal[r::2, c::2] += black[-1]
    hot = np.zeros(raw.shape, dtype=bool)
    hot.ravel()[profile.hot_index] = True
    signal = _fill_hot(signal, hot, raw.cfa)
    mosaic = np.clip(np.rint(signal), 0, 65535).astype(np.uint16)
    corrected = dataclasses.replace(raw, mosaic=mosaic, black_level=tuple(black))
    dither_var = float(np.mean(frac * (1.0 - frac)))
    ranges = [raw.white_level - b for b in black]
    b = float(
        np.mean([(s * s + dither_var) / d**2 for s, d in zip(profile.read_noise_dn, ranges, strict=True)])
    )
    a = None if profile.gain is None else float(profile.gain / np.mean(ranges))
    return corrected, (a, b)


def mismatch_message(notes: list[str]) -> str:
    return (
        "The camera profile was made for other settings (" + "; ".join(notes) + "): its dark "
        "pattern may not fit this shot; calibrate at this camera's ISO and exposure time."
    )


def network_noise(noise: tuple, ratio: float, packed: np.ndarray | None = None) -> tuple[float, float]:
    """(a, b) of :func:`apply_profile` at ratio 1 -> the network's (a, b) for the image amplified
    by `ratio` (variance ``a * signal + b`` of the amplified, normalised values). Without a
    measured gain, `a` is estimated from `packed` (the amplified image), as without a profile."""
    a, b = noise
    if a is None:
        import torch

        from .model import estimate_noise

        a = float(estimate_noise(torch.from_numpy(np.ascontiguousarray(packed))[None])[0][0])
    else:
        a = a * ratio
    return float(a), float(b * ratio * ratio)


def select_profile(folder: str | os.PathLike, raw: RawImage) -> CameraProfile:
    """The profile in `folder` (its *.npz files) for this shot: same size and CFA, same camera
    (or none recorded), then the nearest ISO and exposure time (by ratio)."""
    folder = Path(folder)
    seen, fits = [], []
    for path in sorted(folder.glob(f"*{PROFILE_SUFFIX}")):
        try:
            profile = load_profile(path)
        except CalibrationError:
            continue
        seen.append(
            f"{path.name} ({profile.camera or '?'}, ISO {profile.iso:g}, {profile.exposure_time:g} s)"
        )
        camera = f"{raw.make} {raw.model}".strip()
        if tuple(profile.shape) != tuple(raw.shape) or profile.cfa != raw.cfa:
            continue
        if camera and profile.camera and camera != profile.camera:
            continue
        distance = _log_distance(raw.iso, profile.iso) + _log_distance(
            raw.exposure_time, profile.exposure_time
        )
        fits.append((distance, -profile.frames, path.name, profile))
    if not fits:
        raise CalibrationError(
            f"No camera profile in {folder} fits this shot ({raw.make} {raw.model}, {raw.shape[1]}x"
            f"{raw.shape[0]} {raw.cfa}); profiles there: {', '.join(seen) or 'none'}."
        )
    return min(fits, key=lambda fit: fit[:3])[3]


def _log_distance(a: float, b: float) -> float:
    return abs(math.log(a / b)) if a > 0 and b > 0 else 0.0


def resolve_profile(profile, raw: RawImage) -> CameraProfile:
    """A :class:`CameraProfile`, a profile file or a folder of them -> the profile for `raw`."""
    if isinstance(profile, CameraProfile):
        return profile
    path = Path(profile)
    if path.is_dir():
        return select_profile(path, raw)
    if not path.is_file():
        raise CalibrationError(f"No camera profile at {path}.")
    return load_profile(path)


def prepare(raw: RawImage, profile) -> tuple[RawImage, tuple, dict]:
    """For enhancing: the corrected shot, its noise at ratio 1 and what to record in the result's
    metadata (which profile, and how the shot differs from it)."""
    chosen = resolve_profile(profile, raw)
    notes = profile_mismatches(raw, chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileMismatchWarning)
        corrected, noise = apply_profile(raw, chosen)
    if notes:
        warnings.warn(ProfileMismatchWarning(mismatch_message(notes)), stacklevel=3)
    meta = {"profile": chosen.path or chosen.camera, "profile_frames": chosen.frames,
            "profile_mismatch": mismatch_message(notes) if notes else ""}  # fmt: skip
    return corrected, noise, meta


def check_profile_source(profile) -> None:
    """CalibrationError now (before a shot is read) for a profile path that is not there."""
    if not isinstance(profile, CameraProfile) and not Path(profile).exists():
        raise CalibrationError(f"No camera profile at {profile}: give a profile file or a folder of them.")


def _shrink(offsets: np.ndarray, noise_var: float) -> np.ndarray:
    observed = float(np.mean(offsets.astype(np.float64) ** 2))
    return (offsets * max(0.0, 1.0 - noise_var / observed) if observed > 0 else offsets).astype(np.float32)

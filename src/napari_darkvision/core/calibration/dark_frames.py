"""Dark frames (and flat pairs) -> a :class:`~.profile.CameraProfile`.

The dark level of a pixel is modelled as ``shading + column offset + row offset (+ its own offset
where that stands out of the frames' noise)``: the shading is a per-channel low-pass (block means,
interpolated), so the noise of a few frames is not baked into every pixel; the offsets are shrunk
by what the frames' noise alone would put there. Hot pixels are found in the mean dark frame, the
read noise in the frames' differences (the row noise apart, as the network's own estimate sees it).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings

import numpy as np

from ..errors import CalibrationError
from ..raw import RawImage, channel_positions, read_raw
from .profile import CameraProfile, implausible, level_tolerance, nearly_equal, shading_map

MIN_FRAMES = 2
#: Shading blocks, in packed pixels (a block of 16 x 16 averages 256 pixels of each frame).
SHADING_BLOCK = 16
#: A pixel this many read-noise sigmas above its same-colour neighbours in the mean dark frame
#: is hot: replaced from its neighbours, not corrected (its dark current is noisy and unstable).
HOT_SIGMAS = 6.0
#: A pixel's own offset is kept where it stands this many sigmas of the mean frame's noise out.
OFFSET_SIGMAS = 4.0
#: A pixel at this fraction of the raw range (above black) is near white; a dark frame with more
#: than :data:`MAX_NEAR_WHITE` of its pixels there has light in it (a few stuck pixels may be).
NEAR_WHITE, MAX_NEAR_WHITE = 0.9, 1e-3


class CalibrationWarning(UserWarning):
    """Dark frames that can be calibrated from, but not checked as well as they should be."""


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
    n = len(frames)
    mean, pixel_var, row_var = _frame_statistics(frames, first)
    if first.iso <= 0 or first.exposure_time <= 0:
        unknown = "ISO" if first.iso <= 0 else "exposure time"
        message = (
            f"{_name(first, 0)} and the other frames record no {unknown}: that they share one setting "
            "cannot be checked, nor which shots the profile fits."
        )
        warnings.warn(CalibrationWarning(message), stacklevel=2)
    rough_sigma = [math.sqrt(np.percentile(pixel_var[r::2, c::2], 99.0) / 3.0) for r, c in _cells(first)]
    hot = _hot_pixels(mean, first.cfa, rough_sigma)
    sigma, row_sigma = _read_noise(pixel_var, row_var, hot, first)
    clean = fill_hot_pixels(mean, hot, first.cfa)
    grid, columns, rows = _fit_pattern(clean, first.cfa, block)
    # what the frames' own noise puts into the offsets is shrunk away (Wiener): banding is kept
    # where it stands out, not invented where a sensor has none
    pixel = float(np.mean(np.square(sigma)))
    profile = CameraProfile(
        make=first.make,
        model=first.model,
        iso=float(first.iso),
        exposure_time=float(first.exposure_time),
        shape=tuple(first.shape),
        cfa=first.cfa,
        frames=n,
        black_metadata=tuple(first.black_level),
        black_measured=(0.0,) * 4,
        white_level=float(first.white_level),
        read_noise_dn=sigma,
        row_noise_dn=row_sigma,
        shading_grid=grid,
        block=block,
        column_offsets=_shrink(columns, pixel / (first.shape[0] * n)),
        row_offsets=_shrink(rows, (row_sigma**2 + pixel / first.shape[1]) / n),
        hot_index=np.flatnonzero(hot).astype(np.int64),
        offset_index=np.zeros(0, np.int64),
        offset_value=np.zeros(0, np.float32),
    )
    profile.offset_index, profile.offset_value = _own_offsets(
        clean - profile.dark_level(), hot, sigma, n, first
    )
    dark = profile.dark_level()
    dark[hot] = np.nan
    profile.black_measured = tuple(float(np.nanmean(dark[r::2, c::2])) for r, c in _cells(first))
    why = implausible(profile)
    if why:
        raise CalibrationError(
            f"These {n} frames are not dark frames of one sensor: {why} Take them with the lens cap on, "
            "at the shots' ISO and exposure time."
        )
    if flats:
        profile.gain = _gain(list(flats), first, profile)
    return profile


def _frame_statistics(frames: list, first: RawImage) -> tuple[np.ndarray, np.ndarray, float]:
    """The mean dark frame, each pixel's temporal variance (row noise included) and the variance of
    the row means, in one pass over the frames (each checked against the first)."""
    total = np.zeros(first.shape, dtype=np.float64)
    squares = np.zeros(first.shape, dtype=np.float64)
    row_means = []
    seen: dict[str, str] = {}
    for index, item in enumerate(frames):
        raw = first if index == 0 else _as_raw(item)
        _check_same(first, raw, exposure=True)
        _check_dark(raw, _name(raw, index))
        digest = hashlib.sha1(np.ascontiguousarray(raw.mosaic)).hexdigest()
        if digest in seen:
            raise CalibrationError(
                f"{_name(raw, index)} is the same frame as {seen[digest]}: calibrate from distinct dark frames."
            )
        seen[digest] = _name(raw, index)
        frame = raw.mosaic.astype(np.float64)
        total += frame
        squares += frame * frame
        row_means.append(frame.mean(axis=1))
    n = len(frames)
    mean = total / n
    pixel_var = np.maximum(squares - total * mean, 0.0) / (n - 1)
    del total, squares
    row_var = float(np.mean(np.var(np.stack(row_means), axis=0, ddof=1)))
    return mean, pixel_var, row_var


def _own_offsets(residual: np.ndarray, hot: np.ndarray, sigma, n: int, first: RawImage):
    """The pixels whose residual dark level stands out of the mean frame's noise (hot ones
    apart): their flat indices and offsets."""
    limit = np.zeros(first.shape, dtype=np.float32)
    for (r, c), s in zip(_cells(first), sigma, strict=True):
        limit[r::2, c::2] = OFFSET_SIGMAS * s / math.sqrt(n)
    own = np.flatnonzero((np.abs(residual) > limit) & ~hot)
    return own.astype(np.int64), residual.ravel()[own].astype(np.float32)


def _name(raw: RawImage, index: int) -> str:
    return os.path.basename(raw.path or "") or f"frame {index + 1}"


def _check_dark(raw: RawImage, name: str) -> None:
    """CalibrationError, naming the frame, unless it looks like a dark frame: each channel's level
    near the metadata's black level, and next to nothing near white."""
    white = float(raw.white_level)
    mosaic = raw.mosaic
    for (r, c), black in zip(_cells(raw), raw.black_level, strict=True):
        level = float(np.median(mosaic[r::4, c::4]))  # one pixel in four of its colour is plenty
        if abs(level - black) > level_tolerance(black, white):
            raise CalibrationError(
                f"{name} is not a dark frame: its level is {level - black:+.0f} DN from the black level in "
                f"its metadata ({black:g} DN); take dark frames with the lens cap on."
            )
    bright = np.count_nonzero(mosaic >= min(raw.black_level) + NEAR_WHITE * (white - min(raw.black_level)))
    if bright > MAX_NEAR_WHITE * mosaic.size:
        raise CalibrationError(
            f"{name} is not a dark frame: {bright / mosaic.size:.1%} of its pixels are near or above white "
            f"({white:g} DN); take dark frames with the lens cap on."
        )


def _as_raw(item) -> RawImage:
    return item if isinstance(item, RawImage) else read_raw(item)


def _cells(raw) -> list[tuple[int, int]]:
    return channel_positions(raw.cfa)


def _check_same(first: RawImage, raw: RawImage, exposure: bool) -> None:
    """CalibrationError unless `raw` is of the camera and settings of `first`."""
    name = os.path.basename(raw.path or "") or "a frame"
    problems = []
    if (raw.make, raw.model) != (first.make, first.model):
        problems.append(f"camera {raw.make} {raw.model} vs {first.make} {first.model}")
    if raw.shape != first.shape or raw.cfa != first.cfa:
        problems.append(
            f"size {raw.shape[1]}x{raw.shape[0]} {raw.cfa} vs {first.shape[1]}x{first.shape[0]} {first.cfa}"
        )
    if raw.iso != first.iso:
        problems.append(f"ISO {raw.iso:g} vs {first.iso:g}")
    if exposure and not nearly_equal(raw.exposure_time, first.exposure_time):
        problems.append(f"exposure {raw.exposure_time:g} s vs {first.exposure_time:g} s")
    if tuple(raw.black_level) != tuple(first.black_level) or raw.white_level != first.white_level:
        problems.append("black or white level in the metadata")
    if problems:
        raise CalibrationError(
            f"{name} does not match the first frame ({'; '.join(problems)}): calibrate from frames "
            "of one camera, all at the same size, ISO and exposure time."
        )


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


def fill_hot_pixels(mosaic: np.ndarray, hot: np.ndarray, cfa: str) -> np.ndarray:
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
        with warnings.catch_warnings():  # a pixel all of whose neighbours are hot: handled below
            warnings.simplefilter("ignore", RuntimeWarning)
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
        residual = mean - shading_map(grid, mean.shape, cfa, block)
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


def _shrink(offsets: np.ndarray, noise_var: float) -> np.ndarray:
    observed = float(np.mean(offsets.astype(np.float64) ** 2))
    return (offsets * max(0.0, 1.0 - noise_var / observed) if observed > 0 else offsets).astype(np.float32)


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

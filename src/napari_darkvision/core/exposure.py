"""The "auto" exposure ratio: meter a whole frame as a camera does and bring it to a normal
exposure.

A camera's centre-weighted averaging meter sets the exposure that puts the frame's weighted
mean luminance at a fixed fraction of the sensor's saturation (ISO 12232's saturation-based
speed: 10/78 of it). The dark frame's level, amplified by the right ratio, lands there too, so
the ratio is the target over the dark frame's level. Each block counts at most a few stops
above the frame's median, so that a light source or the sun does not darken the rest; skies,
which a camera's meter sees too, still count, less at the edges.
"""

from __future__ import annotations

import numpy as np

from .parameters import MAX_RATIO, MIN_RATIO
from .raw import RawImage, pack

#: "auto" brings :func:`metered_level` to this fraction of white: the geometric mean of the
#: level of three whole frames that cameras metered (research/experiments/auto_metering.py).
AUTO_TARGET = 0.097
#: blocks of this many packed pixels a side are averaged first: a x300 shot's noise then moves
#: the median (and so the clip) by a few per cent, not by a factor.
METERING_BLOCK = 8
#: block luminances above the median by more than this many stops (and above the frame's 90th
#: percentile) count as that much: light sources and a sun are bright, not large.
CLIP_STOPS = 4.0
#: the centre weighting's Gaussian sigma, in frame heights and widths
CENTRE_SIGMA = 0.2
#: a block holding a value this close to white is a light source that saturated even the dark
#: shot (a sky under a short exposure does not): it is left out of the meter
SATURATED = 0.98


def _block_side(packed: np.ndarray) -> int:
    return max(1, min(METERING_BLOCK, packed.shape[1] // 4, packed.shape[2] // 4))


def _blocks(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[0] // side * side, image.shape[1] // side * side
    return image[:h, :w].reshape(h // side, side, w // side, side)


def block_luminance(packed: np.ndarray, camera_wb) -> np.ndarray:
    """The white-balanced luminance of a packed (4, h, w) image, averaged over blocks of
    :data:`METERING_BLOCK` packed pixels a side (fewer on tiny images)."""
    wb = np.asarray(camera_wb, dtype=np.float32) / 4
    luma = wb[0] * packed[0] + wb[1] * packed[1] + wb[2] * packed[2] + wb[3] * packed[3]
    return _blocks(luma, _block_side(packed)).mean(axis=(1, 3), dtype=np.float64)


def saturated_blocks(packed: np.ndarray) -> np.ndarray:
    """The blocks of :func:`block_luminance` that hold a value at :data:`SATURATED` of white."""
    return _blocks(packed.max(axis=0), _block_side(packed)).max(axis=(1, 3)) >= SATURATED


def centre_weights(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A Gaussian centre weighting over a (rows, columns) grid, `sigma` in frame heights/widths."""
    rows = (np.arange(shape[0]) + 0.5) / shape[0] - 0.5
    cols = (np.arange(shape[1]) + 0.5) / shape[1] - 0.5
    return np.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / (2 * sigma**2))


def metered_level(
    packed: np.ndarray, camera_wb, sigma: float = CENTRE_SIGMA, clip_stops: float = CLIP_STOPS
) -> float:
    """What "auto" exposes for, of a packed (4, h, w) image normalised to white: the
    centre-weighted mean of the white-balanced luminance, each block counted at most
    `clip_stops` above the frame's median (or at the 90th percentile, if higher), saturated
    blocks left out (unless all are)."""
    blocks = block_luminance(packed, camera_wb)
    # never below the 90th percentile: in a frame mostly at black (a night sky) the median is noise
    ceiling = max(float(np.median(blocks)) * 2.0**clip_stops, float(np.percentile(blocks, 90)))
    blocks = np.minimum(blocks, ceiling)
    weights = centre_weights(blocks.shape, sigma)
    saturated = saturated_blocks(packed)
    if not saturated.all():
        weights[saturated] = 0.0
    return float((blocks * weights).sum() / weights.sum())


#: the name release 5 gave the statistic
scene_level = metered_level


def estimate_ratio(raw: RawImage) -> tuple[float, str]:
    """The "auto" ratio and, in words, why: the metered level and the exposure it implies
    (the exposure settings shown, when the file records them)."""
    level = metered_level(pack(raw, clip=False), raw.camera_wb)
    if not level > 0:
        return MAX_RATIO, "the image is black: the largest ratio"
    ratio = float(np.clip(AUTO_TARGET / level, MIN_RATIO, MAX_RATIO))
    reason = (
        f"metered like a camera: centre-weighted mean luminance (lights clipped) at "
        f"{level:.2g} of white, brought to {AUTO_TARGET:g}"
    )
    if ratio != AUTO_TARGET / level:
        reason += f" (limited to {ratio:g})"
    if raw.exposure_time > 0:
        # the settings do not change the estimate (they cancel with the level), but say what it means
        iso = f" at ISO {raw.iso:g}" if raw.iso > 0 else ""
        reason += f": {_seconds(raw.exposure_time)}{iso} shot as if {_seconds(raw.exposure_time * ratio)}"
    return ratio, reason


def _seconds(value: float) -> str:
    return f"1/{1 / value:.0f} s" if value < 0.5 else f"{value:.2g} s"


def auto_ratio(raw: RawImage) -> float:
    """Estimate the amplification that brings the image to a normal exposure."""
    return estimate_ratio(raw)[0]

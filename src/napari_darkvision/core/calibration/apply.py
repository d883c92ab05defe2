"""A profile applied to a shot: its dark pattern subtracted before packing, its hot pixels
replaced, and its read noise given to the network."""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np

from ..errors import CalibrationError
from ..raw import RawImage, channel_positions
from .dark_frames import fill_hot_pixels
from .profile import (
    CameraProfile,
    ProfileMismatchWarning,
    implausible,
    level_tolerance,
    mismatch_message,
    profile_mismatches,
    resolve_profile,
)


def apply_profile(raw: RawImage, profile: CameraProfile, seed: int = 0):
    """Subtract the profile's dark level and pattern, replace its hot pixels.

    Returns ``(corrected RawImage, (a, b))``: the corrected mosaic is uint16 as before, with new
    per-channel black levels (the measured ones, raised where needed to keep every value >= 0, so
    values below black keep their noise); (a, b) is the noise variance ``a * signal + b`` in the
    normalised units of :func:`~napari_darkvision.core.raw.pack` at ratio 1 (``a`` is None unless
    the profile has a gain; see :func:`network_noise`). Warns (:class:`ProfileMismatchWarning`)
    when the shot's camera, ISO or exposure time differ from the profile's; CalibrationError for a
    profile that is not of dark frames, or that would move the shot's levels far from its own."""
    _check_levels(raw, profile)
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
    signal = fill_hot_pixels(signal, hot, raw.cfa)
    mosaic = np.clip(np.rint(signal), 0, 65535).astype(np.uint16)
    corrected = dataclasses.replace(raw, mosaic=mosaic, black_level=tuple(black))
    dither_var = float(np.mean(frac * (1.0 - frac)))
    ranges = [raw.white_level - b for b in black]
    b = float(
        np.mean([(s * s + dither_var) / d**2 for s, d in zip(profile.read_noise_dn, ranges, strict=True)])
    )
    a = None if profile.gain is None else float(profile.gain / np.mean(ranges))
    return corrected, (a, b)


def _check_levels(raw: RawImage, profile: CameraProfile) -> None:
    """The profile subtracts its dark level where the shot's metadata would subtract its black
    level: far apart, the image's levels move (a bright frame's profile leaves a white image)."""
    name = os.path.basename(profile.path) or "The camera profile"
    why = implausible(profile)
    if why:
        raise CalibrationError(f"{name} was not made from dark frames: {why} Calibrate again.")
    for channel, (dark, black) in enumerate(zip(profile.black_measured, raw.black_level, strict=True)):
        if abs(dark - black) > level_tolerance(black, raw.white_level):
            raise CalibrationError(
                f"{name} would move this shot's levels by {black - dark:+.0f} DN (channel {channel + 1}: its dark "
                f"level {dark:.0f} DN, the shot's black level {black:g} DN): it is not this camera's at "
                "these settings; calibrate again."
            )


def network_noise(noise: tuple, ratio: float, packed: np.ndarray | None = None) -> tuple[float, float]:
    """(a, b) of :func:`apply_profile` at ratio 1 -> the network's (a, b) for the image amplified
    by `ratio` (variance ``a * signal + b`` of the amplified, normalised values). Without a
    measured gain, `a` is estimated from `packed` (the amplified image), as without a profile."""
    a, b = noise
    if a is None:
        import torch

        from ..model import estimate_noise

        a = float(estimate_noise(torch.from_numpy(np.ascontiguousarray(packed))[None])[0][0])
    else:
        a = a * ratio
    return float(a), float(b * ratio * ratio)


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
    meta = {
        "profile": chosen.path or chosen.camera,
        "profile_frames": chosen.frames,
        "profile_mismatch": mismatch_message(notes) if notes else "",
    }
    return corrected, noise, meta

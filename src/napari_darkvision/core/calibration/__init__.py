"""Calibrate to a camera: dark frames -> a :class:`CameraProfile`; a profile applied to a shot.

A dark frame (lens cap on, the ISO and exposure time of the dark shots) records the sensor's fixed
pattern: the black level as it really is, drifting smoothly across the frame (dark shading, amp
glow), column and row offsets, hot pixels. Amplified x100-x300, a 2 DN error there is a colour
cloud no denoiser can tell from the scene. The mean of a few frames measures that pattern; the
frames' differences measure the read noise, which the network is then told instead of guessing.

- :mod:`.dark_frames`: :func:`calibrate` (dark frames, optional flat pairs -> profile)
- :mod:`.profile`: :class:`CameraProfile`, its file (save, :func:`load_profile`), :func:`select_profile`
- :mod:`.apply`: :func:`apply_profile`, :func:`network_noise`, :func:`prepare` (for the pipeline)

The profile format is described in docs/calibration.md. No torch here but in
:func:`network_noise` without a measured gain; no napari or Qt.
"""

from .apply import apply_profile, network_noise, prepare
from .dark_frames import MIN_FRAMES, SHADING_BLOCK, CalibrationWarning, calibrate
from .profile import (
    PROFILE_FORMAT,
    PROFILE_SUFFIX,
    PROFILE_VERSION,
    CameraProfile,
    ProfileMismatchWarning,
    ProfileSkippedWarning,
    check_profile_source,
    load_profile,
    profile_mismatches,
    resolve_profile,
    select_profile,
)

__all__ = [
    "MIN_FRAMES",
    "PROFILE_FORMAT",
    "PROFILE_SUFFIX",
    "PROFILE_VERSION",
    "SHADING_BLOCK",
    "CalibrationWarning",
    "CameraProfile",
    "ProfileMismatchWarning",
    "ProfileSkippedWarning",
    "apply_profile",
    "calibrate",
    "check_profile_source",
    "load_profile",
    "network_noise",
    "prepare",
    "profile_mismatches",
    "resolve_profile",
    "select_profile",
]

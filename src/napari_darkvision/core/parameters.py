"""Checks of the parameters a person passes, cheap enough to run before torch is imported."""

from __future__ import annotations

import math
import os
import re

from .errors import DeviceError, EnhanceError

#: Accepted exposure ratios; SID uses 100-300. Larger ratios only amplify noise.
MIN_RATIO, MAX_RATIO = 1.0, 3000.0
#: Device names we run on: "auto" picks CUDA, then Apple MPS, then the CPU.
DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: How a DNG's mosaic is stored: lossless JPEG (the default, about half the size) or uncompressed.
DNG_COMPRESSIONS = ("ljpeg", "none")


def check_flag(value, name: str) -> bool:
    """A yes/no parameter: True or False (numpy's too), nothing else ("no" is not False)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise EnhanceError(f"{name} must be True or False, not {value!r}.")


def number(value, problem: str) -> float:
    """`value` as a float (numbers and numeric strings; not True/False); EnhanceError with
    `problem` (e.g. "strength must be a number from 0 to 1") otherwise."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise EnhanceError(f"{problem}, not {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise EnhanceError(f"{problem}, not {value!r}.") from err


def validate_ratio(ratio) -> float | None:
    """A float ratio, or None for "auto"; EnhanceError for anything else."""
    if ratio is None or (isinstance(ratio, str) and ratio.strip().lower() == "auto"):
        return None
    value = number(ratio, "Ratio must be a number or 'auto'")
    if not math.isfinite(value) or not MIN_RATIO <= value <= MAX_RATIO:
        raise EnhanceError(
            f"Ratio must be between {MIN_RATIO:g} and {MAX_RATIO:g} (SID uses 100, 250, 300), "
            f"or 'auto'; got {ratio!r}."
        )
    return value


def check_strength(value) -> float:
    """The blend of the network's result with the amplified input: a number from 0 to 1."""
    strength = number(value, "strength must be a number from 0 to 1")
    if not 0.0 <= strength <= 1.0:  # also refuses NaN
        raise EnhanceError(
            f"strength must be from 0 (the amplified input) to 1 (the network's result), not {value!r}."
        )
    return strength


def check_device(device) -> str | None:
    """None/"auto" or a device name we support; DeviceError for anything else. Whether the
    device is present is checked when the model is loaded (that needs torch)."""
    if device is None:
        return None
    if not isinstance(device, str) or not _DEVICE.match(device.strip().lower()):
        raise DeviceError(f"Unknown device {device!r}: use one of {', '.join(DEVICE_KINDS)} (or cuda:N).")
    return device.strip().lower()


def check_dng_compression(value) -> str:
    """How a DNG is stored: "ljpeg" (lossless JPEG) or "none"; EnhanceError for anything else."""
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in DNG_COMPRESSIONS:
        raise EnhanceError(f"DNG compression must be one of {', '.join(DNG_COMPRESSIONS)}, not {value!r}.")
    return name


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1

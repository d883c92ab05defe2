"""napari-darkvision: see in the dark. Enhance extreme low-light camera RAW photos with a U-Net.

Public API (torch is imported only when enhancing)::

    import napari_darkvision as dv
    raw = dv.read_raw("IMG_0001.ARW")        # RawImage: Bayer mosaic + metadata
    rgb = dv.enhance(raw, ratio=100)         # (H, W, 3) uint16 sRGB; ratio="auto" estimates it
    rgb = dv.enhance(raw, weights="fast-rep")  # a shipped model by name (or a .safetensors file)
    rgb = dv.enhance(["a.ARW", "b.ARW"], ratio=100)  # a burst: aligned, merged; frame 0's view
    model = dv.load_model("my.safetensors")  # other weights
    summary = dv.enhance_many(["shoot/"], "out/")  # a folder; here or on a Dask cluster
"""

from .batch import BatchSummary, enhance_many  # neither torch nor dask until it runs
from .core.errors import (
    CalibrationError,
    Cancelled,
    DarkvisionError,
    DeviceError,
    EnhanceError,
    MissingInputError,
    ModelError,
    OutputError,
    OutputExistsError,
    RawReadError,
)
from .core.pipeline import enhance, enhance_steps
from .core.raw import RawImage, read_raw
from .core.version import __version__ as __version__


def load_model(weights=None, device=None):
    """The network of `weights`: a shipped model's name ("release-5", "fast-rep"), a
    .safetensors file, or None for the default model."""
    from .core.model import load_model as _load

    return _load(weights, device)


def calibrate(frames, flats=None, output=None, overwrite=False):
    """A camera profile from 2-16 dark frames (paths or RawImage), optionally saved to `output`
    (a .npz); use it with ``enhance(..., profile=...)``. See docs/calibration.md."""
    from .core.calibration import calibrate as _calibrate

    profile = _calibrate(frames, flats=flats)
    if output is not None:
        profile.path = str(profile.save(output, overwrite=overwrite))
    return profile


def load_profile(path):
    """A camera profile saved by :func:`calibrate`."""
    from .core.calibration import load_profile as _load

    return _load(path)


__all__ = [
    "BatchSummary",
    "CalibrationError",
    "Cancelled",
    "DarkvisionError",
    "DeviceError",
    "EnhanceError",
    "MissingInputError",
    "ModelError",
    "OutputError",
    "OutputExistsError",
    "RawImage",
    "RawReadError",
    "calibrate",
    "enhance",
    "enhance_many",
    "enhance_steps",
    "load_model",
    "load_profile",
    "read_raw",
]

"""Files shipped inside the package, each named in this one place."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PACKAGE = resources.files("napari_darkvision")

#: The bundled sample: a GoPro street scene darkened 100x with calibrated sensor noise (a DNG).
SAMPLE = Path(str(_PACKAGE / "sample_data" / "gopro_dark_x100.dng"))

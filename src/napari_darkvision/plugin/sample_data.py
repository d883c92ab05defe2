"""Sample data: the bundled dark raw, opened exactly as the reader opens the file."""

from __future__ import annotations

from importlib import resources

from .reader import read_raw_layer

SAMPLE_FILE = "gopro_dark_x100.dng"


def dark_sample() -> list[tuple]:
    """A GoPro street scene darkened 100x with calibrated sensor noise (a 1200x1600 DNG)."""
    # as_file: the package may live in a zip; the reader needs a real path for LibRaw
    with resources.as_file(resources.files("napari_darkvision") / "sample_data" / SAMPLE_FILE) as path:
        return read_raw_layer(str(path))

"""Sample data: the bundled dark raw, opened exactly as the reader opens the file."""

from __future__ import annotations

from ..core.bundled import SAMPLE
from .reader import read_raw_layer


def dark_sample() -> list[tuple]:
    """A GoPro street scene darkened 100x with calibrated sensor noise (a 1200x1600 DNG)."""
    return read_raw_layer(str(SAMPLE))

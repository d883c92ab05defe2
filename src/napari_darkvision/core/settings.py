"""EnhanceSettings: every option of one enhancement, checked once, before torch is imported.

Each door (the command line, the napari widget, the batch, the Python API) translates what a
person gave into one :class:`EnhanceSettings`; :func:`~.pipeline.enhance_steps` and everything
below it trust it. Frozen and made of plain values, it pickles to Dask workers.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from .errors import EnhanceError
from .parameters import (
    check_device,
    check_dng_compression,
    check_flag,
    check_strength,
    number,
    validate_ratio,
)
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, PRECISIONS


@dataclass(frozen=True)
class EnhanceSettings:
    """The options of one enhancement, normalised and checked in the constructor.

    ratio
        Exposure amplification (1 to 3000; SID uses 100, 250, 300), or "auto"/None to estimate
        it (stored as None).
    strength
        0 to 1: the network's result (1) blended with the input amplified by `ratio` (0), in the
        mosaic before rendering.
    stretch
        Histogram-stretch the rendered result (after the network, never inside it).
    weights
        A shipped model's name, a ``.safetensors`` path, or None for the default model.
    device
        "cpu", "cuda", "cuda:N", "mps", or None for the fastest present.
    profile
        A camera profile: a ``CameraProfile``, a profile file or a folder of them; None for none.
    hot_pixels
        Replace hot and stuck pixels found blind before the network.
    precision
        "auto", "float32" or "bfloat16".
    tile, overlap
        Tile side and minimum overlap in packed pixels (memory is bounded by the tile).
    sensor_orientation
        Keep the sensor's rows and columns instead of turning the image as the camera says.
    """

    ratio: float | str | None = "auto"
    strength: float = 1.0
    stretch: bool = False
    weights: str | None = None
    device: str | None = None
    profile: object = None
    hot_pixels: bool = True
    precision: str = "auto"
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    sensor_orientation: bool = False

    def __post_init__(self) -> None:
        checked = {
            "ratio": validate_ratio(self.ratio),
            "strength": check_strength(self.strength),
            "stretch": check_flag(self.stretch, "stretch"),
            "weights": _check_weights(self.weights),
            "device": check_device(self.device),
            "profile": _check_profile(self.profile),
            "hot_pixels": check_flag(self.hot_pixels, "hot_pixels"),
            "precision": _check_precision(self.precision),
            "sensor_orientation": check_flag(self.sensor_orientation, "sensor_orientation"),
        }
        checked["tile"], checked["overlap"] = _check_tiling(self.tile, self.overlap)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes) -> EnhanceSettings:
        """A copy with `changes`, checked like a new one."""
        return dataclasses.replace(self, **changes)

    @property
    def auto_ratio(self) -> bool:
        """Whether the ratio is estimated from the raw ("auto")."""
        return self.ratio is None


@dataclass(frozen=True)
class OutputSettings:
    """How results are written: `overwrite` an existing output (never an input), and how a DNG
    stores its mosaic (`dng_compression`: "ljpeg", lossless JPEG, or "none")."""

    overwrite: bool = False
    dng_compression: str = "ljpeg"

    def __post_init__(self) -> None:
        object.__setattr__(self, "overwrite", check_flag(self.overwrite, "overwrite"))
        object.__setattr__(self, "dng_compression", check_dng_compression(self.dng_compression))


def settings_from(settings: EnhanceSettings | None = None, **options) -> EnhanceSettings:
    """`settings` as given, or built from keyword `options` (the Python API's convenience form)."""
    if settings is None:
        return EnhanceSettings(**options)
    if not isinstance(settings, EnhanceSettings):
        raise EnhanceError(f"settings must be an EnhanceSettings, not {type(settings).__name__}.")
    return settings.replace(**options) if options else settings


def _check_weights(weights) -> str | None:
    if weights is None or weights == "":
        return None
    from .bundled import weights_file

    weights_file(weights)  # a name or an existing file; the path is resolved where it is loaded
    return os.fspath(weights)


def _check_profile(profile):
    if profile is None or profile == "":
        return None
    from .calibration import check_profile_source

    check_profile_source(profile)
    return profile if not isinstance(profile, os.PathLike) else os.fspath(profile)


def _check_precision(precision) -> str:
    value = (precision or "auto").strip().lower() if isinstance(precision, str) or precision is None else None
    if value not in PRECISIONS:
        raise EnhanceError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    return value


def _check_tiling(tile, overlap) -> tuple[int, int]:
    tile_value, overlap_value = (
        number(tile, "tile must be a whole number"),
        number(overlap, "overlap must be a whole number"),
    )
    if tile_value != int(tile_value) or overlap_value != int(overlap_value):
        raise EnhanceError(f"tile and overlap must be whole numbers, not {tile!r} and {overlap!r}.")
    if not 32 <= tile_value <= 8192 or not 0 <= overlap_value < tile_value / 2:
        raise EnhanceError(
            f"tile must be from 32 to 8192 packed pixels and overlap from 0 to under half of it; "
            f"got {tile!r} and {overlap!r}."
        )
    return int(tile_value), int(overlap_value)

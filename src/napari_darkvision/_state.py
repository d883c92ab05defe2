"""What the Enhance widget asks for and what it makes, apart from Qt: the ratio presets, turning a
layer back into a RawImage, and naming and describing the result layer."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.pipeline import EnhanceError, validate_ratio
from .core.raw import RawImage, RawReadError

#: Exposure ratio presets: SID's Sony ratios, "auto" (estimated from the raw) and "custom".
RATIO_PRESETS: dict[str, float | None] = {"auto": None, "x100": 100.0, "x250": 250.0, "x300": 300.0}
CUSTOM = "custom"
PRESET_NAMES = (*RATIO_PRESETS, CUSTOM)


def is_raw_layer(layer) -> bool:
    """An image layer made by our reader (or carrying the same metadata)."""
    from napari.layers import Image

    metadata = getattr(layer, "metadata", None) or {}
    return isinstance(layer, Image) and bool(metadata.get("darkvision_raw"))


def requested_ratio(preset: str, custom: float) -> float | str:
    """The ratio for `enhance_steps`: "auto", a preset's value or the custom value (validated)."""
    if preset == CUSTOM:
        ratio = validate_ratio(custom)
        return "auto" if ratio is None else ratio
    if preset not in RATIO_PRESETS:
        raise EnhanceError(f"Unknown ratio preset {preset!r}: choose one of {', '.join(PRESET_NAMES)}.")
    value = RATIO_PRESETS[preset]
    return "auto" if value is None else value


def weights_path(value) -> str | None:
    """None for the shipped model (an empty FileEdit), else an existing weights file."""
    if value is None or str(value).strip() in ("", "."):
        return None
    path = os.fspath(value)
    if not os.path.isfile(path):
        raise EnhanceError(f"Weights file {path!r} does not exist (leave it empty for the shipped model).")
    return path


def raw_from_layer(layer) -> RawImage:
    """Rebuild the RawImage from a layer; RawReadError, for a person, if it cannot be."""
    if layer is None:
        raise RawReadError(
            "No raw layer to enhance: open a camera raw file with the napari-darkvision reader first."
        )
    try:
        raw = RawImage.from_metadata(np.asarray(layer.data), dict(layer.metadata))  # checks darkvision_raw
    except RawReadError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise RawReadError(
            f"Layer {layer.name!r} has incomplete raw metadata ({type(err).__name__}: {err}): "
            "open the raw file again with the napari-darkvision reader."
        ) from err
    # the widget runs on its own copy: the user may edit or delete the layer while it runs
    raw.mosaic = np.array(raw.mosaic, copy=True)
    if raw.mosaic.ndim != 2 or min(raw.mosaic.shape) < 16:
        raise RawReadError(
            f"Layer {layer.name!r} is not a raw mosaic (data of shape {raw.mosaic.shape}): "
            "enhance the layer the reader made, not a processed copy."
        )
    if raw.mosaic.dtype != np.uint16:
        if (
            not np.issubdtype(raw.mosaic.dtype, np.integer)
            or raw.mosaic.min() < 0
            or raw.mosaic.max() > 65535
        ):
            raise RawReadError(f"Layer {layer.name!r} does not hold 16-bit raw sensor values.")
        raw.mosaic = raw.mosaic.astype(np.uint16)
    if not (math.isfinite(raw.white_level) and max(raw.black_level) < raw.white_level):
        raise RawReadError(f"Layer {layer.name!r} has damaged raw metadata (black and white levels).")
    return raw


def ratio_label(metadata: dict) -> str:
    """The ratio as shown: "×100", or "×221 auto" for an estimated one (rounded: an estimate)."""
    ratio = float(metadata["ratio"])
    if metadata.get("ratio_mode") == "auto":
        shown = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"
        return f"×{shown} auto"
    return f"×{ratio:g}"


def result_name(source_name: str, raw: RawImage, metadata: dict) -> str:
    stem = Path(raw.path).stem if raw.path else source_name
    suffix = " stretched" if metadata.get("stretch") else ""
    return f"{stem} [darkvision {ratio_label(metadata)}{suffix}]"


def result_metadata(metadata: dict, source_name: str) -> dict:
    return {**metadata, "source_layer": source_name}


@dataclass(frozen=True)
class EnhanceRequest:
    """One run of the widget, fixed when the user presses Enhance."""

    raw: RawImage
    source_name: str
    ratio: float | str
    stretch: bool
    weights: str | None
    source_scale: tuple = ()
    source_translate: tuple = ()


#: Side of the live preview's region, in sensor pixels (1 MP): fast enough to follow the controls.
PREVIEW_SIDE = 1024


def preview_box(shape: tuple[int, int], side: int = PREVIEW_SIDE) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the centre region; even offsets keep the CFA phase."""
    h, w = shape
    ph, pw = min(side, h - h % 2), min(side, w - w % 2)
    top, left = (h - ph) // 4 * 2, (w - pw) // 4 * 2
    return top, top + ph, left, left + pw

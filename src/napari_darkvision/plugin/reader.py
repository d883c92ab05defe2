"""The npe2 reader: a Bayer camera raw file -> one image layer holding the mosaic as recorded.

The layer keeps the raw's metadata (``RawImage.metadata()``, with ``darkvision_raw=True``), which
is all the Enhance widget needs to rebuild a :class:`~napari_darkvision.core.raw.RawImage`. It
is shown so that a dark shot is visible at once: contrast limits from the black level to a high
percentile of the mosaic, and a display gamma that lifts the shadows (the data stay as recorded).

Failure policy, chosen for napari 0.9 / npe2 0.10:

- :func:`napari_get_reader` refuses (returns None) only what cannot be a raw file at all: not a
  single path, a directory, a missing file, or an extension LibRaw does not read. It does not
  open the file, because a refusal reaches the user only as "napari-darkvision refused the
  file", which explains nothing.
- The reader function never raises: if npe2 sees an exception, or an empty list, it raises
  ``ValueError``/``ReaderPluginError`` into ``viewer.open`` (a traceback in scripts, a
  "choose another reader" dialog in the GUI). Instead, it shows why the file cannot be used as
  a napari error notification and returns npe2's null-layer sentinel ``[(None,)]`` ("read, but
  nothing to add"), which napari turns into no layer and no error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.raw import RAW_EXTENSIONS, RawImage, RawReadError, read_raw

logger = logging.getLogger(__name__)

#: What npe2 understands as "this file was handled and holds no layers".
NO_LAYERS: list[tuple] = [(None,)]

#: Upper end of the display range of the mosaic: a dark raw has nearly all of its pixels a few
#: DN above black, so the white level would show it black; a high percentile shows the scene.
DISPLAY_PERCENTILE = 99.5
#: Display gamma of the mosaic layer: about sRGB's, so shadows a few DN above black show.
DISPLAY_GAMMA = 0.45


def is_raw_path(path) -> bool:
    """True for a single existing file whose extension LibRaw reads as a Bayer raw."""
    if not isinstance(path, str | os.PathLike):
        return False
    path = os.fspath(path)
    if not isinstance(path, str):  # a bytes path
        return False
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    return extension in RAW_EXTENSIONS and os.path.isfile(path)


def napari_get_reader(path) -> Callable | None:
    """Return the raw reader for a single raw file path, None for anything else."""
    if not is_raw_path(path):
        return None
    return read_raw_layer


def contrast_limits(raw: RawImage) -> tuple[float, float]:
    """From the black level to a high percentile of the mosaic: shows the scene of a dark raw."""
    low = float(min(raw.black_level))
    high = float(np.percentile(raw.mosaic[::4, ::4], DISPLAY_PERCENTILE))
    if not high > low:
        high = float(raw.white_level)
    if not high > low:
        high = low + 1.0
    return low, high


def layer_data(raw: RawImage) -> list[tuple]:
    """The LayerData of one raw image: (mosaic, kwargs, "image")."""
    name = Path(raw.path).stem if raw.path else "raw"
    kwargs = {
        "name": name,
        "metadata": raw.metadata(),
        "contrast_limits": contrast_limits(raw),
        "gamma": DISPLAY_GAMMA,
        "colormap": "gray",
    }
    return [(raw.mosaic, kwargs, "image")]


def read_raw_layer(path) -> list[tuple]:
    """Read one raw file; on failure, tell the user why and add nothing (never raises)."""
    from napari.utils.notifications import show_error

    try:
        raw = read_raw(path)
    except RawReadError as err:
        show_error(f"napari-darkvision: {err}")
        return NO_LAYERS
    except MemoryError:
        show_error(f"napari-darkvision: not enough memory to read {os.path.basename(path)}.")
        return NO_LAYERS
    except Exception as err:  # a damaged file must never take napari down with it
        logger.exception("reading %s failed", path)
        show_error(f"napari-darkvision cannot read {os.path.basename(path)}: {type(err).__name__}: {err}")
        return NO_LAYERS
    return layer_data(raw)

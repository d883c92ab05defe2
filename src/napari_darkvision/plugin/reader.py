"""The npe2 reader: a Bayer camera raw file -> one image layer holding the mosaic as recorded;
several raws of one camera (a folder, or files opened as a stack) -> one (N, H, W) stack layer.

The layer keeps the raw's metadata (``RawImage.metadata()``, with ``darkvision_raw=True``), which
is all the Enhance widget needs to rebuild a :class:`~napari_darkvision.core.raw.RawImage`. It
is shown so that a dark shot is visible at once: contrast limits from the black level to a high
percentile of the mosaic, and a display gamma that lifts the shadows (the data stay as recorded).

A stack layer's metadata is frame 0's at the top level (so that whatever reads one raw's metadata
still works) and every frame's, as a single file's layer would have it, in a list under
:data:`FRAMES_KEY`. napari hands a reader a list of paths only when asked for a stack (*File >
Open Files as Stack...*, a drop with Shift held, ``viewer.open(paths, stack=True)``); otherwise
each file of a multi-selection is read on its own, into its own layer. A folder is read as its
raw files in name order. Frames of another camera, size or colour filter than frame 0 are
refused with a message (only their headers are read before that).

Failure policy, chosen for napari 0.9 / npe2 0.10:

- :func:`napari_get_reader` refuses (returns None) only what cannot be raws at all: a missing
  file, an extension LibRaw does not read, a list holding either, a folder without raw files.
  It does not open the files, because a refusal reaches the user only as "napari-darkvision
  refused the file", which explains nothing.
- The reader function never raises: if npe2 sees an exception, or an empty list, it raises
  ``ValueError``/``ReaderPluginError`` into ``viewer.open`` (a traceback in scripts, a
  "choose another reader" dialog in the GUI). Instead, it shows why the file cannot be used as
  a napari error notification and returns npe2's null-layer sentinel ``[(None,)]`` ("read, but
  nothing to add"), which napari turns into no layer and no error.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.errors import DarkvisionError
from ..core.raw import RAW_EXTENSIONS, RawImage, RawReadError, read_raw

logger = logging.getLogger(__name__)

#: What npe2 understands as "this file was handled and holds no layers".
NO_LAYERS: list[tuple] = [(None,)]

#: Upper end of the display range of the mosaic: a dark raw has nearly all of its pixels a few
#: DN above black, so the white level would show it black; a high percentile shows the scene.
DISPLAY_PERCENTILE = 99.5
#: Display gamma of the mosaic layer: about sRGB's, so shadows a few DN above black show.
DISPLAY_GAMMA = 0.45
#: The key of a stack layer's metadata holding each frame's raw metadata, in frame order.
FRAMES_KEY = "darkvision_frames"


def is_raw_path(path) -> bool:
    """True for a single existing file whose extension LibRaw reads as a Bayer raw."""
    if not isinstance(path, str | os.PathLike):
        return False
    path = os.fspath(path)
    if not isinstance(path, str):  # a bytes path
        return False
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    return extension in RAW_EXTENSIONS and os.path.isfile(path)


def raws_in_folder(path) -> list[str]:
    """The raw files directly in the folder `path`, by name (hidden files are never photos);
    empty for anything that is not a folder."""
    if not isinstance(path, str | os.PathLike) or not os.path.isdir(path):
        return []
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [p for name in names if not name.startswith(".") and is_raw_path(p := os.path.join(path, name))]


def napari_get_reader(path) -> Callable | None:
    """The reader for a raw file path, a list of them (a stack) or a folder holding raws; None
    for anything else."""
    if is_raw_path(path):
        return read_raw_layer
    if isinstance(path, list | tuple) and path and all(is_raw_path(p) for p in path):
        return read_stack_layer
    if raws_in_folder(path):
        return read_stack_layer
    return None


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


def stack_layer_data(raws: list[RawImage], stack, name: str) -> list[tuple]:
    """The LayerData of a stack: `stack` (N, H, W) holds the frames' mosaics, `raws` their
    metadata; frame 0's metadata at the top level, every frame's under FRAMES_KEY."""
    frames = [raw.metadata() for raw in raws]
    kwargs = {
        "name": name,
        "metadata": {**frames[0], FRAMES_KEY: frames},
        "contrast_limits": contrast_limits(raws[0]),
        "gamma": DISPLAY_GAMMA,
        "colormap": "gray",
    }
    return [(stack, kwargs, "image")]


def read_raw_layer(path) -> list[tuple]:
    """Read one raw file; on failure, tell the user why and add nothing (never raises)."""
    return _refusing_errors(lambda: layer_data(read_raw(path)), os.path.basename(path))


def read_stack_layer(path) -> list[tuple]:
    """Read a list of raw files or a folder's raws as one (N, H, W) stack layer (one raw: its
    2-D layer, as a single file gives); frames that are not of one camera, size and colour
    filter are refused with a message before any pixel is read (never raises)."""
    folder = not isinstance(path, list | tuple)
    paths = raws_in_folder(path) if folder else [os.fspath(p) for p in path]
    if len(paths) == 1:
        return read_raw_layer(paths[0])
    name = Path(path).name if folder else Path(paths[0]).stem
    what = f"{Path(path).name} (a folder of {len(paths)} raws)" if folder else f"{len(paths)} raws"
    return _refusing_errors(lambda: _read_stack(paths, name), what)


def _read_stack(paths: list[str], name: str) -> list[tuple]:
    from ..core.burst import check_burst

    check_burst(paths)  # camera, size and colour filter, from the headers
    stack, raws = None, []
    for path in paths:
        raw = read_raw(path)
        if stack is None:
            stack = np.empty((len(paths), *raw.mosaic.shape), dtype=raw.mosaic.dtype)
        elif raw.mosaic.shape != stack.shape[1:]:
            raise RawReadError(
                f"{os.path.basename(path)} holds {raw.mosaic.shape[0]}x{raw.mosaic.shape[1]} pixels, "
                f"{os.path.basename(paths[0])} {stack.shape[1]}x{stack.shape[2]}: not one stack."
            )
        stack[len(raws)] = raw.mosaic
        raws.append(dataclasses.replace(raw, mosaic=stack[len(raws)]))
    return stack_layer_data(raws, stack, name)


def _refusing_errors(read: Callable[[], list[tuple]], what: str) -> list[tuple]:
    """``read()``; on failure, tell the user why and return NO_LAYERS (never raises)."""
    from napari.utils.notifications import show_error

    try:
        return read()
    except DarkvisionError as err:
        show_error(f"napari-darkvision: {err}")
    except MemoryError:
        show_error(f"napari-darkvision: not enough memory to read {what}.")
    except Exception as err:  # a damaged file must never take napari down with it
        logger.exception("reading %s failed", what)
        show_error(f"napari-darkvision cannot read {what}: {type(err).__name__}: {err}")
    return NO_LAYERS

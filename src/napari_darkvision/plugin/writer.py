"""The npe2 writers: *File > Save Selected Layer(s)...* with napari-darkvision.

- an enhanced layer (metadata ``darkvision_result``) -> a DNG of the enhanced mosaic the layer
  keeps (``darkvision_mosaic``), or its rendered pixels as 16-bit TIFF/PNG, with the photo's
  metadata (``darkvision_source``, the source's ``RawImage.metadata()``); nothing is recomputed;
- a raw layer read by this plugin (metadata ``darkvision_raw``) -> a DNG of the mosaic as recorded
  (not a stack of raws: its frames' files are there already).

napari asks before overwriting, so an existing file that is not a source may be replaced; a source
never is, and every file is written whole or not at all (:func:`~napari_darkvision.core.output.write_atomically`).
Errors reach napari as exceptions with a message saying what to do.
"""

from __future__ import annotations

import os

import numpy as np

from ..core.errors import OutputError
from ..core.output import output_format
from ..core.raw import RawImage
from .reader import FRAMES_KEY


def _as_uint16(image) -> np.ndarray:
    data = np.asarray(image)
    if data.dtype == np.uint16:
        return data
    if data.dtype == np.uint8:
        return data.astype(np.uint16) * 257
    if np.issubdtype(data.dtype, np.floating) and np.nanmax(data) <= 1.0:
        return np.rint(np.clip(np.nan_to_num(data), 0.0, 1.0) * 65535).astype(np.uint16)
    raise OutputError(
        f"Cannot save a {data.dtype} layer as 16-bit RGB: expected uint16, uint8 or floats in 0-1."
    )


def save_enhanced_layer(path: str, data, metadata: dict, *, dng_compression: str = "ljpeg") -> str:
    """Write an enhanced layer from its metadata keys alone: DNG from ``darkvision_mosaic``
    (`dng_compression` "ljpeg" or "none"), or the layer's pixels as 16-bit TIFF/PNG; returns the
    path written."""
    from ..core.export import save_dng, save_rgb16

    source_meta = metadata.get("darkvision_source") or {}
    mosaic = metadata.get("darkvision_mosaic")
    source = None
    if source_meta.get("darkvision_raw"):
        # the layer keeps the enhanced mosaic, not the source's: it stands in for the pixels
        white = int(source_meta.get("white_level") or 65535)
        stand_in = np.asarray(mosaic) if mosaic is not None else np.full((64, 64), white // 2, np.uint16)
        source = RawImage.from_metadata(stand_in, source_meta)
    sources = [source.path] if source is not None and source.path else []
    details = {k: v for k, v in metadata.items() if not k.startswith("darkvision_")}
    if output_format(path) == "dng":
        if mosaic is None or source is None:
            raise OutputError(
                "This layer keeps no enhanced mosaic, so it cannot be saved as a DNG: save it as "
                ".tif or .png, or enhance the raw again with the Enhance widget and save that result."
            )
        save_dng(
            path,
            source,
            np.asarray(mosaic),
            details,
            overwrite=True,
            sources=sources,
            compression=dng_compression,
        )
    else:
        save_rgb16(path, _as_uint16(data), details, overwrite=True, sources=sources, raw=source)
    return path


def save_raw_layer(path: str, data, metadata: dict, *, dng_compression: str = "ljpeg") -> str:
    """Write a raw layer read by this plugin as a DNG of the mosaic as recorded."""
    from ..core.export import save_dng

    raw = RawImage.from_metadata(np.asarray(data), metadata)
    sources = [raw.path] if raw.path else []
    save_dng(path, raw, raw.mosaic, {}, overwrite=True, sources=sources, compression=dng_compression)
    return path


def write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer image writer: dispatches on the layer's metadata."""
    metadata = dict(meta.get("metadata") or {})
    if metadata.get("darkvision_result"):
        return [save_enhanced_layer(os.fspath(path), data, metadata)]
    if metadata.get("darkvision_raw"):
        if FRAMES_KEY in metadata:
            raise OutputError(
                "A stack of raws is several files, not one DNG: its frames' files are kept as they "
                "were; enhance it (a burst) and save the result."
            )
        if output_format(path) != "dng":
            raise OutputError("A raw layer saves as .dng; enhance it first to save a .tif or .png.")
        return [save_raw_layer(os.fspath(path), data, metadata)]
    raise OutputError(
        "napari-darkvision saves only the layers it made: a raw read with its reader, or an "
        "enhanced result. Save this layer with napari's own writer."
    )

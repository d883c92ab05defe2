"""Enhanced mosaic -> sRGB, through LibRaw, and the optional histogram stretch afterwards.

Rendering goes through LibRaw (:data:`LIBRAW_OPTIONS`): the camera's white balance, its colour
matrix, LibRaw's demosaic, at the white level the file's metadata gives and with the sRGB tone
curve, so that the pixels are what the files' sRGB tags say and a scene's brightness does not
depend on its brightest pixel. Results, previews, quick renders and the evaluation's references
all render this way. For a file, the enhanced
mosaic replaces the sensor data of a read-only handle on that file; a mosaic without a file is
written to a temporary DNG first. :func:`quick_render` is a fast half-resolution approximation
for previews and training figures.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np

from .raw import RawImage

#: LibRaw's tone curve (power, toe slope) that gives IEC 61966-2-1 sRGB; LibRaw's default is BT.709's
#: (2.222, 4.5), up to 16 8-bit levels darker in the shadows.
SRGB_GAMMA = (2.4, 12.92)
#: The one rendering of results and references. ``adjust_maximum_thr=0`` keeps the metadata's
#: white level: LibRaw's default (0.75) moves white to the data's own maximum when that lies above
#: 0.75 of it, so a scene would come out up to 1.33x brighter or darker with one highlight.
LIBRAW_OPTIONS = {
    "use_camera_wb": True,
    "no_auto_bright": True,
    "output_bps": 16,
    "adjust_maximum_thr": 0.0,
    "gamma": SRGB_GAMMA,
}


def render(
    raw: RawImage, mosaic: np.ndarray, sensor_orientation: bool = False, demosaic: str | None = None
) -> np.ndarray:
    """Render a uint16 mosaic shaped like ``raw.mosaic`` to (H, W, 3) uint16 sRGB with LibRaw.

    `sensor_orientation` keeps the sensor's rows and columns (so the result lines up with the
    mosaic, as in napari); otherwise the camera's orientation flag is applied, as LibRaw-based
    tools do. `demosaic` names a ``rawpy.DemosaicAlgorithm`` (default: LibRaw's AHD).
    """
    import rawpy

    options = dict(LIBRAW_OPTIONS)
    if sensor_orientation:
        options["user_flip"] = 0
    if demosaic:
        options["demosaic_algorithm"] = rawpy.DemosaicAlgorithm[demosaic.upper()]
    if raw.path and os.path.isfile(raw.path):
        try:
            with rawpy.imread(raw.path) as handle:
                visible = handle.raw_image_visible
                if visible.shape == mosaic.shape:
                    visible[...] = mosaic  # LibRaw's in-memory copy only; the file is never written
                    return handle.postprocess(**options)
        except rawpy.LibRawError:
            pass  # the source changed or vanished since it was read: render from a DNG instead
    from .dng import write_dng

    with tempfile.TemporaryDirectory(prefix="darkvision-") as folder:
        path = os.path.join(folder, "render.dng")
        staged = dataclasses.replace(raw, mosaic=mosaic, path=path)
        write_dng(path, staged, compression="none")  # read once, at once: not worth compressing
        with rawpy.imread(path) as handle:
            return handle.postprocess(**options)


#: Where sRGB's linear toe (slope 12.92) meets its power segment, in linear light.
SRGB_TOE = 0.0031308


def srgb_curve(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values (IEC 61966-2-1), what :data:`SRGB_GAMMA` makes
    LibRaw write."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= SRGB_TOE, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def quick_render(packed: np.ndarray, camera_wb, rgb_from_camera) -> np.ndarray:
    """(4, h, w) packed R, G1, B, G2 in [0, 1] (1 = the metadata's white level) -> (h, w, 3)
    float32 sRGB at half resolution: white balance, colour matrix and the sRGB curve, like
    :func:`render` but without demosaicing."""
    wb = np.asarray(camera_wb, dtype=np.float32)
    rgb = np.stack([packed[0] * wb[0], 0.5 * (packed[1] + packed[3]) * wb[1], packed[2] * wb[2]], axis=-1)
    rgb = np.clip(rgb, 0.0, 1.0) @ np.asarray(rgb_from_camera, dtype=np.float32).T
    return srgb_curve(rgb)


def stretch(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Histogram stretch: map the `low`..`high` percentiles of all channels together to the full
    range (one mapping for all channels, so colours keep their balance). Same dtype back."""
    lo, hi = np.percentile(image[::4, ::4], [low, high])
    if not np.isfinite(hi - lo) or hi <= lo:
        return image.copy()
    peak = 65535.0 if image.dtype == np.uint16 else 1.0
    out = (image.astype(np.float32) - lo) * (peak / (hi - lo))
    np.clip(out, 0.0, peak, out=out)
    return out.astype(np.uint16) if image.dtype == np.uint16 else out.astype(image.dtype)

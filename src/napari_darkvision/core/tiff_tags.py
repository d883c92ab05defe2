"""What a TIFF-based raw's own tags say where LibRaw (rawpy) is silent: the camera's make and
model, ISO and exposure time, and whether the sensor data the file declares is there."""

from __future__ import annotations

import os

from .errors import RawReadError


def camera_and_exposure(raw, path: str) -> tuple[float, float, str, str]:
    """ISO and exposure time from LibRaw; make and model from the TIFF tags (rawpy 0.28 does not
    expose them), which most raw formats and all DNGs carry."""
    other = getattr(raw, "other", None)
    iso = float(getattr(other, "iso_speed", 0.0) or 0.0)
    exposure = float(getattr(other, "shutter_speed", 0.0) or 0.0)
    make = model = ""
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            make = str(_tag(tags, "Make") or "").strip()
            model = str(_tag(tags, "Model") or _tag(tags, "UniqueCameraModel") or "").strip()
            exif = _tag(tags, "ExifTag") or {}
            if not iso:
                iso = float(_first(exif.get("ISOSpeedRatings") or _tag(tags, "ISOSpeedRatings") or 0))
            if not exposure:
                value = exif.get("ExposureTime") or _tag(tags, "ExposureTime") or 0
                exposure = value[0] / value[1] if isinstance(value, tuple) else float(value)
    except Exception:  # noqa: BLE001 - not every raw is a TIFF; make and model are a nicety
        pass
    return iso, exposure, make, model


def _first(value):
    return value[0] if isinstance(value, tuple | list) else value


def _tag(tags, name):
    tag = tags.get(name)
    return None if tag is None else tag.value


#: Fewer bytes than this per pixel cannot hold a raw image, even compressed (0.5 bit per pixel).
MIN_BYTES_PER_PIXEL = 1 / 16


def check_data_declared(path: str, name: str) -> None:
    """For TIFF-based raws (DNG, NEF, ARW, PEF...): the sensor data the file declares is there.

    LibRaw decodes a pruned compressed raw (image data cut to a few bytes, as in metadata-only
    test files) without an error, into a buffer it never fills: the "image" is then whatever
    that memory held before (often the previous raw read in the process), levels included."""
    try:
        import tifffile

        size = os.path.getsize(path)
        with tifffile.TiffFile(path) as tif:
            pages = list(tif.pages)
            pages += [sub for page in tif.pages for sub in (page.pages or [])]
            for page in pages:
                if page.photometric != tifffile.PHOTOMETRIC.CFA:  # the sensor data
                    continue
                counts = [int(c) for c in page.databytecounts]
                ends = [int(o) + c for o, c in zip(page.dataoffsets, counts, strict=False)]
                pixels = int(page.imagelength) * int(page.imagewidth)
                if sum(counts) < pixels * MIN_BYTES_PER_PIXEL or max(ends, default=size + 1) > size:
                    raise RawReadError(
                        f"{name} has no image data ({sum(counts)} bytes for {pixels} pixels): the "
                        "file is truncated or holds metadata only."
                    )
    except RawReadError:
        raise
    except Exception:  # noqa: BLE001 - not every raw is a TIFF: LibRaw's own checks stand
        pass

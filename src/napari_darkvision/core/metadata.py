"""The photo's metadata: read from the source once (exifread, LibRaw, tifffile), carried in
:class:`~.raw.RawImage`, and written into every output as TIFF/EXIF tags.

Two plain dicts travel with a ``RawImage`` (plain values, so they survive napari layer metadata):

- ``exif``: what the camera recorded that ``RawImage`` has no field for: ``lens_make``,
  ``lens_model`` (EXIF's, else the maker note's, else LibRaw's), ``f_number``, ``focal_length`` (mm),
  ``datetime_original`` ("YYYY:MM:DD HH:MM:SS"), ``serial_number`` (the body's), and ``gps``: the
  source's GPS IFD as it is, ``[code, field type, values]`` entries (DNG output only).
- ``dng_tags``: what a DNG of the image should carry from the source, by DNG tag name: colour
  matrices and their illuminants, camera calibration, forward matrices, analog balance, baseline
  exposure, the default crop (relative to the mosaic, i.e. LibRaw's visible area),
  ``OriginalRawFileName``, and a source DNG's ``OpcodeList1``-``3`` as they are (bytes), valid for a
  mosaic of ``OpcodeListsSize`` ([width, height], the source's).
"""

from __future__ import annotations

import datetime
import os
from fractions import Fraction

import numpy as np

from .tiff_tags import (
    ASCII,
    CANON_LENS_MODEL,
    CANON_SERIAL_NUMBER,
    LONG,
    MAKER_NOTE,
    RATIONAL,
    SHORT,
    SRATIONAL,
    UNDEFINED,
    Tag,
    ifd_entries,
)

#: DNG colour tags copied from a source DNG: name -> (code, type, count).
COLOR_TAGS = {
    "ColorMatrix1": (Tag.ColorMatrix1, SRATIONAL, 9),
    "ColorMatrix2": (Tag.ColorMatrix2, SRATIONAL, 9),
    "CameraCalibration1": (Tag.CameraCalibration1, SRATIONAL, 9),
    "CameraCalibration2": (Tag.CameraCalibration2, SRATIONAL, 9),
    "AnalogBalance": (Tag.AnalogBalance, RATIONAL, 3),
    "BaselineExposure": (Tag.BaselineExposure, SRATIONAL, 1),
    "CalibrationIlluminant1": (Tag.CalibrationIlluminant1, SHORT, 1),
    "CalibrationIlluminant2": (Tag.CalibrationIlluminant2, SHORT, 1),
    "ForwardMatrix1": (Tag.ForwardMatrix1, SRATIONAL, 9),
    "ForwardMatrix2": (Tag.ForwardMatrix2, SRATIONAL, 9),
}
#: A source DNG's opcode lists, carried as they are: the enhanced mosaic is in the source's sensor state.
OPCODE_LISTS = (Tag.OpcodeList1, Tag.OpcodeList2, Tag.OpcodeList3)
#: EXIF's LightSource code for D65, the illuminant of LibRaw's (Adobe's) built-in matrices.
D65 = 21


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def read_exif(handle, path: str | os.PathLike) -> dict:
    """Lens, f-number, focal length, capture time, body serial number and GPS IFD of a raw file
    (exifread and the TIFF tags; a Canon's maker note for its lens and serial; LibRaw's own fields
    for what they do not give); empty values are left out."""
    import exifread

    found = {}
    try:
        with open(path, "rb") as file:  # details (maker notes) take seconds: a Canon's is read below
            tags = exifread.process_file(file, details=False)
    except Exception:  # noqa: BLE001 - exifread fails on some raw formats: LibRaw's fields stand
        tags = {}

    def text(name):
        tag = tags.get(name)
        return str(tag.values).strip().strip("\x00").strip() if tag is not None else ""

    def number(name):
        tag = tags.get(name)
        return _float(tag.values[0]) if tag is not None and len(tag.values) else 0.0

    found["lens_make"] = text("EXIF LensMake") or str(getattr(handle.lens, "make", "") or "")
    ifd0 = ifd_entries(path)
    canon = (
        ifd_entries(path, Tag.ExifTag, MAKER_NOTE) if _ascii(ifd0.get(Tag.Make)).startswith("Canon") else {}
    )
    found["lens_model"] = (
        text("EXIF LensModel")
        or _ascii(canon.get(CANON_LENS_MODEL))
        or str(getattr(handle.lens, "model", "") or "")
    )
    kind, serial = canon.get(CANON_SERIAL_NUMBER, (0, []))
    found["serial_number"] = (
        _ascii(ifd0.get(Tag.CameraSerialNumber))
        or text("EXIF BodySerialNumber")
        or (f"{serial[0]:010d}" if kind == LONG and serial and serial[0] else "")
    )
    gps = ifd_entries(path, Tag.GPSTag)
    found["gps"] = [[code, kind, values] for code, (kind, values) in sorted(gps.items())]
    other = handle.other
    found["f_number"] = number("EXIF FNumber") or _float(other.aperture)
    found["focal_length"] = number("EXIF FocalLength") or _float(other.focal_length)
    when = text("EXIF DateTimeOriginal")
    if not when and isinstance(other.timestamp, datetime.datetime) and other.timestamp.year > 1970:
        when = other.timestamp.strftime("%Y:%m:%d %H:%M:%S")
    found["datetime_original"] = when
    if found["f_number"] <= 1.0 and not number("EXIF FNumber"):  # LibRaw's "unknown" is 1
        found["f_number"] = 0.0
    return {key: value for key, value in found.items() if value}


def _ascii(entry) -> str:
    """An ASCII entry of :func:`~.tiff_tags.ifd_entries` as text ("" for none)."""
    if not entry or entry[0] != ASCII:
        return ""
    return entry[1].split(b"\x00")[0].decode("ascii", "replace").strip()


def read_dng_tags(handle, path: str | os.PathLike) -> dict:
    """The source's colour calibration (DNG tags, or LibRaw's matrix at D65 for other raws), its
    default crop as DefaultCropOrigin (x, y) / DefaultCropSize (w, h) within the mosaic, its file
    name (OriginalRawFileName: a source DNG's own, else the file's) and a DNG's opcode lists."""
    found = _dng_color_tags(path)
    if "ColorMatrix1" not in found:
        matrix = np.asarray(handle.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
        if np.abs(matrix).sum() > 0:
            found = {"ColorMatrix1": matrix.ravel().tolist(), "CalibrationIlluminant1": D65}
    sizes = handle.sizes
    if sizes.crop_width and sizes.crop_height:
        origin = [sizes.crop_left_margin - sizes.left_margin, sizes.crop_top_margin - sizes.top_margin]
        size = [sizes.crop_width, sizes.crop_height]
        inside = (
            min(origin) >= 0 and origin[0] + size[0] <= sizes.width and origin[1] + size[1] <= sizes.height
        )
        if inside and (origin != [0, 0] or size != [sizes.width, sizes.height]):
            found["DefaultCropOrigin"] = [int(v) for v in origin]
            found["DefaultCropSize"] = [int(v) for v in size]
    ifd0 = ifd_entries(path)
    found["OriginalRawFileName"] = _ascii(ifd0.get(Tag.OriginalRawFileName)) or os.path.basename(path)
    if Tag.DNGVersion in ifd0:
        for tag in OPCODE_LISTS:
            kind, values = ifd0.get(tag, (0, b""))
            if kind == UNDEFINED and values:
                found[tag.name] = values
        if any(tag.name in found for tag in OPCODE_LISTS):
            found["OpcodeListsSize"] = [int(sizes.width), int(sizes.height)]
    return found


def _dng_color_tags(path) -> dict:
    try:
        import tifffile

        with tifffile.TiffFile(os.fspath(path)) as tif:
            tags = tif.pages[0].tags
            if "DNGVersion" not in tags:
                return {}
            found = {}
            for name, (_, kind, count) in COLOR_TAGS.items():
                if name in tags:
                    found[name] = _tag_numbers(tags[name].value, kind, count)
            if "UniqueCameraModel" in tags:
                found["UniqueCameraModel"] = str(tags["UniqueCameraModel"].value).strip()
            return {k: v for k, v in found.items() if v is not None}
    except Exception:  # noqa: BLE001 - not a TIFF-based raw: LibRaw's matrix is used instead
        return {}


def _tag_numbers(value, kind: int, count: int):
    """tifffile's value (ints, or numerator/denominator pairs for rationals) -> plain numbers."""
    values = np.ravel(value).tolist() if not isinstance(value, bytes) else list(value)
    if kind in (RATIONAL, SRATIONAL):
        if len(values) != 2 * count or any(d == 0 for d in values[1::2]):
            return None
        numbers = [n / d for n, d in zip(values[0::2], values[1::2], strict=True)]
    else:
        numbers = [int(v) for v in values]
    return numbers[0] if count == 1 else numbers


def rationals(values, signed: bool = False, denominator: int = 1_000_000) -> list[int]:
    """Numbers -> flat numerator, denominator pairs within (S)RATIONAL's 32-bit range."""
    top = 2**31 - 1 if signed else 2**32 - 1
    flat = []
    for value in np.ravel(values):
        limit = int(max(1, min(denominator, top // max(1.0, abs(float(value)) + 1))))
        fraction = Fraction(float(value)).limit_denominator(limit)
        flat += [fraction.numerator, fraction.denominator]
    return flat


def ascii_value(text: str) -> bytes:
    return str(text).encode("ascii", "replace") + b"\x00"


def processing_note(details: dict | None) -> str:
    """What was done, in one line: software and version, model and release, ratio, stretch."""
    from .version import __version__

    details = details or {}
    parts = [f"napari-darkvision {__version__}"]
    if details.get("model"):
        parts.append(f"model {details['model']} release {details.get('model_version', '?')}")
    if details.get("ratio"):
        parts.append(f"ratio x{float(details['ratio']):g} ({details.get('ratio_mode', 'manual')})")
    if float(details.get("strength", 1.0)) < 1.0:
        parts.append(f"strength {float(details['strength']):.0%}")
    if "stretch" in details:
        parts.append(f"stretch {'on' if details['stretch'] else 'off'}")
    return "; ".join(parts)


def software() -> str:
    from .version import __version__

    return f"napari-darkvision {__version__}"


def photo_tags(raw, note: str = "") -> tuple[list[tuple], list[tuple]]:
    """(IFD0 entries, EXIF IFD entries) of the photo's metadata: (code, type, values) each."""
    exif = dict(getattr(raw, "exif", None) or {})
    ifd0 = [(Tag.Software, ASCII, ascii_value(software()))]
    if raw.make:
        ifd0.append((Tag.Make, ASCII, ascii_value(raw.make)))
    if raw.model:
        ifd0.append((Tag.Model, ASCII, ascii_value(raw.model)))
    if note:
        ifd0.append((Tag.ImageDescription, ASCII, ascii_value(note)))
    entries = [(Tag.ExifVersion, UNDEFINED, b"0231")]
    if raw.exposure_time > 0:
        entries.append((Tag.ExposureTime, RATIONAL, rationals(raw.exposure_time)))
    if exif.get("f_number", 0) > 0:
        entries.append((Tag.FNumber, RATIONAL, rationals(exif["f_number"], denominator=1000)))
    if raw.iso > 0:
        entries.append((Tag.ISOSpeedRatings, SHORT, [min(65535, int(round(raw.iso)))]))
    if exif.get("datetime_original"):
        entries.append((Tag.DateTimeOriginal, ASCII, ascii_value(exif["datetime_original"])))
    if exif.get("focal_length", 0) > 0:
        entries.append((Tag.FocalLength, RATIONAL, rationals(exif["focal_length"], denominator=1000)))
    if exif.get("lens_make"):
        entries.append((Tag.LensMake, ASCII, ascii_value(exif["lens_make"])))
    if exif.get("lens_model"):
        entries.append((Tag.LensModel, ASCII, ascii_value(exif["lens_model"])))
    return ifd0, entries


def png_text(raw, note: str) -> dict[str, str]:
    """PNG tEXt keywords (PNG's registered ones where there is one) for the photo and the work."""
    exif = dict(getattr(raw, "exif", None) or {})
    camera = f"{raw.make} {raw.model}".strip()
    fields = {"Software": software(), "Description": note, "Source": camera}
    try:  # PNG's Creation Time is in RFC 1123's format
        taken = datetime.datetime.strptime(exif.get("datetime_original", ""), "%Y:%m:%d %H:%M:%S")
        fields["Creation Time"] = taken.strftime("%a, %d %b %Y %H:%M:%S")
    except ValueError:
        pass
    return {k: v for k, v in fields.items() if v}

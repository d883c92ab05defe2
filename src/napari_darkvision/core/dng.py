"""Write a Bayer mosaic as a CFA DNG (1.4) that LibRaw, dcraw, darktable and RawTherapee open,
with the source's colour calibration, default crop, orientation and EXIF; and the small TIFF
encoder behind it, which the 16-bit TIFF and PNG (eXIf) outputs share.

The encoder is ours because tifffile writes no EXIF IFD (exiftool and raw developers look for
ExposureTime, ISO and the lens there, not in IFD0). Files are uncompressed: LibRaw reads no
deflate-compressed integer DNG. Tags follow the DNG 1.4 and TIFF 6 / EXIF 2.3 specifications.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from .metadata import (
    ASCII,
    BYTE,
    COLOR_TAGS,
    D65,
    LONG,
    RATIONAL,
    SHORT,
    SRATIONAL,
    ascii_value,
    photo_tags,
    rationals,
)
from .raw import XYZ_FROM_SRGB, RawImage, channel_positions

_CFA_CODES = {"R": 0, "G": 1, "B": 2}
#: LibRaw's flip code -> the TIFF Orientation tag that LibRaw reads back as that code.
TIFF_ORIENTATION_FROM_FLIP = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
#: TIFF field type -> struct code of one value (rationals are two of them).
_STRUCT = {BYTE: "B", ASCII: "B", SHORT: "H", LONG: "I", RATIONAL: "I", 7: "B", 8: "h", 9: "i",
           SRATIONAL: "i", 11: "f", 12: "d"}  # fmt: skip
_EXIF_IFD = 34665


def _field(kind: int, values) -> tuple[int, bytes]:
    """(count, little-endian bytes) of one tag's values."""
    if isinstance(values, bytes):
        return len(values), values
    values = list(np.ravel(values).tolist()) if not isinstance(values, list) else values
    data = struct.pack(f"<{len(values)}{_STRUCT[kind]}", *values)
    return (len(values) // 2 if kind in (RATIONAL, SRATIONAL) else len(values)), data


def _ifd(entries, start: int) -> bytes:
    """One IFD at file offset `start`, entries sorted by tag, with its out-of-line values after it."""
    entries = sorted(entries, key=lambda entry: entry[0])
    values_at = start + 2 + 12 * len(entries) + 4
    head, tail = [struct.pack("<H", len(entries))], b""
    for code, kind, values in entries:
        count, data = _field(kind, values)
        if len(data) <= 4:
            inline = data.ljust(4, b"\x00")
        else:
            inline = struct.pack("<I", values_at + len(tail))
            tail += data + b"\x00" * (len(data) % 2)  # values start on a word boundary
        head.append(struct.pack("<HHI", code, kind, count) + inline)
    return b"".join(head) + struct.pack("<I", 0) + tail


def tiff_bytes(ifd0, exif=(), data_size: int = 0) -> tuple[bytes, bytes]:
    """(header, IFDs) of a little-endian TIFF whose image data (`data_size` bytes, one strip)
    follows the 8-byte header; with an EXIF IFD when `exif` has entries."""
    ifd0 = list(ifd0)
    if data_size:
        ifd0 += [(273, LONG, [8]), (279, LONG, [data_size])]  # StripOffsets, StripByteCounts
    start = 8 + data_size + data_size % 2
    exif = list(exif)
    if not exif:
        block = _ifd(ifd0, start)
        return b"II*\x00" + struct.pack("<I", start), block
    block = _ifd(ifd0 + [(_EXIF_IFD, LONG, [0])], start)  # its length does not depend on the offset
    exif_at = start + len(block)
    block = _ifd(ifd0 + [(_EXIF_IFD, LONG, [exif_at])], start) + _ifd(exif, exif_at)
    return b"II*\x00" + struct.pack("<I", start), block


def write_tiff(path: str | os.PathLike, image: np.ndarray, ifd0, exif=()) -> None:
    """Write `image` (uint16, contiguous) as one uncompressed strip after the header, then the IFDs."""
    data = np.ascontiguousarray(image, dtype="<u2")
    header, ifds = tiff_bytes(ifd0, exif, data.nbytes)
    with open(path, "wb") as file:
        file.write(header)
        file.write(memoryview(data).cast("B"))
        file.write(b"\x00" * (data.nbytes % 2))
        file.write(ifds)


def _color_tags(raw: RawImage) -> list[tuple]:
    """The source's calibration where it has one; else a D65 matrix from ``rgb_from_camera``."""
    profile = dict(getattr(raw, "dng_tags", None) or {})
    if "ColorMatrix1" not in profile:
        camera_to_xyz = XYZ_FROM_SRGB @ np.asarray(raw.rgb_from_camera, dtype=np.float64)
        profile["ColorMatrix1"] = np.linalg.inv(camera_to_xyz).ravel().tolist()
        profile["CalibrationIlluminant1"] = D65
    if "ColorMatrix2" not in profile:  # an illuminant without its matrix is invalid DNG
        profile.pop("CalibrationIlluminant2", None)
        profile.pop("CameraCalibration2", None)
        profile.pop("ForwardMatrix2", None)
    entries = []
    for name, (code, kind, _count) in COLOR_TAGS.items():
        if name in profile:
            value = profile[name]
            if kind in (RATIONAL, SRATIONAL):
                value = rationals(value, signed=kind == SRATIONAL)
            entries.append((code, kind, np.ravel(value).astype(int).tolist()))
    return entries


def _crop_tags(raw: RawImage) -> list[tuple]:
    profile = getattr(raw, "dng_tags", None) or {}
    origin, size = profile.get("DefaultCropOrigin"), profile.get("DefaultCropSize")
    if not origin or not size:
        return []
    h, w = raw.mosaic.shape
    if min(origin) < 0 or origin[0] + size[0] > w or origin[1] + size[1] > h:
        return []  # the mosaic was cut since it was read: its crop no longer applies
    return [(50719, LONG, [int(v) for v in origin]), (50720, LONG, [int(v) for v in size])]


def write_dng(path: str | os.PathLike, raw: RawImage, *, note: str = "") -> None:
    """Write ``raw.mosaic`` (uint16) as a CFA DNG with its levels, CFA, white balance, colour
    calibration, default crop, orientation and EXIF; `note` (what was done) goes in
    ImageDescription."""
    mosaic = np.ascontiguousarray(raw.mosaic, dtype=np.uint16)
    h, w = mosaic.shape
    black_by_cell = [0.0] * 4
    for channel, (r, c) in enumerate(channel_positions(raw.cfa)):
        black_by_cell[2 * r + c] = raw.black_level[channel]
    wb = np.asarray(raw.camera_wb, dtype=np.float64)
    camera = f"{raw.make} {raw.model}".strip() or "napari-darkvision"
    unique = (getattr(raw, "dng_tags", None) or {}).get("UniqueCameraModel") or camera
    named = dataclasses.replace(raw, make=raw.make or "napari-darkvision", model=raw.model or "synthetic")
    ifd0, exif = photo_tags(named, note)
    ifd0 += [
        (254, LONG, [0]),  # NewSubfileType: the main image
        (256, LONG, [w]),
        (257, LONG, [h]),
        (258, SHORT, [16]),
        (259, SHORT, [1]),  # uncompressed
        (262, SHORT, [32803]),  # PhotometricInterpretation: CFA
        (274, SHORT, [TIFF_ORIENTATION_FROM_FLIP.get(int(raw.orientation), 1)]),
        (277, SHORT, [1]),
        (278, LONG, [h]),  # RowsPerStrip: one strip
        (284, SHORT, [1]),
        (33421, SHORT, [2, 2]),  # CFARepeatPatternDim
        (33422, BYTE, [_CFA_CODES[ch] for ch in raw.cfa]),  # CFAPattern
        (50706, BYTE, [1, 4, 0, 0]),  # DNGVersion
        (50707, BYTE, [1, 1, 0, 0]),  # DNGBackwardVersion
        (50708, ASCII, ascii_value(unique)),  # UniqueCameraModel
        (50710, BYTE, [0, 1, 2]),  # CFAPlaneColor
        (50711, SHORT, [1]),  # CFALayout: rectangular
        (50713, SHORT, [2, 2]),  # BlackLevelRepeatDim
        (50714, RATIONAL, rationals(black_by_cell)),  # BlackLevel per cell of the 2x2 tile
        (50717, LONG, [int(raw.white_level)]),  # WhiteLevel
        (50728, RATIONAL, rationals(1.0 / wb[[0, 1, 2]])),  # AsShotNeutral
    ]
    ifd0 += _color_tags(raw) + _crop_tags(raw)
    write_tiff(path, mosaic, ifd0, exif)

"""TIFF tags by name, a reader of a TIFF's IFD entries as they are, and what a TIFF-based raw's own
tags say where LibRaw (rawpy) is silent: the camera's make and model, ISO and exposure time, and
whether the sensor data the file declares is there."""

from __future__ import annotations

import enum
import os
import struct

from .errors import RawReadError

#: TIFF field types.
BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD = range(
    1, 14
)
#: TIFF field type -> struct code of one value (rationals are two of them).
STRUCT_CODES = {
    BYTE: "B",
    ASCII: "B",
    SHORT: "H",
    LONG: "I",
    RATIONAL: "I",
    SBYTE: "b",
    UNDEFINED: "B",
    SSHORT: "h",
    SLONG: "i",
    SRATIONAL: "i",
    FLOAT: "f",
    DOUBLE: "d",
    IFD: "I",
}
#: Field types whose values are kept as bytes.
BYTE_TYPES = (BYTE, ASCII, SBYTE, UNDEFINED)


class Tag(enum.IntEnum):
    """The TIFF, EXIF, GPS and DNG tags we write, by their names in tifffile's ``TIFF.TAGS``."""

    NewSubfileType = 254
    ImageWidth = 256
    ImageLength = 257
    BitsPerSample = 258
    Compression = 259
    PhotometricInterpretation = 262
    ImageDescription = 270
    Make = 271
    Model = 272
    StripOffsets = 273
    Orientation = 274
    SamplesPerPixel = 277
    RowsPerStrip = 278
    StripByteCounts = 279
    XResolution = 282
    YResolution = 283
    PlanarConfiguration = 284
    ResolutionUnit = 296
    Software = 305
    TileWidth = 322
    TileLength = 323
    TileOffsets = 324
    TileByteCounts = 325
    ExposureTime = 33434
    FNumber = 33437
    CFARepeatPatternDim = 33421
    CFAPattern = 33422
    ExifTag = 34665
    InterColorProfile = 34675
    GPSTag = 34853
    ISOSpeedRatings = 34855
    ExifVersion = 36864
    DateTimeOriginal = 36867
    FocalLength = 37386
    FlashpixVersion = 40960
    ColorSpace = 40961
    BodySerialNumber = 42033
    LensMake = 42035
    LensModel = 42036
    DNGVersion = 50706
    DNGBackwardVersion = 50707
    UniqueCameraModel = 50708
    CFAPlaneColor = 50710
    CFALayout = 50711
    BlackLevelRepeatDim = 50713
    BlackLevel = 50714
    WhiteLevel = 50717
    DefaultCropOrigin = 50719
    DefaultCropSize = 50720
    ColorMatrix1 = 50721
    ColorMatrix2 = 50722
    CameraCalibration1 = 50723
    CameraCalibration2 = 50724
    AnalogBalance = 50727
    AsShotNeutral = 50728
    BaselineExposure = 50730
    CameraSerialNumber = 50735
    CalibrationIlluminant1 = 50778
    CalibrationIlluminant2 = 50779
    OriginalRawFileName = 50827
    ForwardMatrix1 = 50964
    ForwardMatrix2 = 50965
    OpcodeList1 = 51008
    OpcodeList2 = 51009
    OpcodeList3 = 51022


#: An entry is not read past this size (a damaged count): the largest tags carried are opcode lists.
_MAX_VALUE_BYTES = 64 * 2**20


#: EXIF's MakerNote; in a Canon's, a TIFF IFD whose offsets are the file's, LensModel and SerialNumber.
MAKER_NOTE, CANON_LENS_MODEL, CANON_SERIAL_NUMBER = 37500, 0x0095, 0x000C


def ifd_entries(path: str | os.PathLike, *pointers: int) -> dict[int, tuple[int, object]]:
    """IFD0's entries, or those of the IFD reached by following `pointers` from it (e.g.
    ``Tag.GPSTag``; ``Tag.ExifTag, MAKER_NOTE`` for a Canon's maker note), as {code: (field type,
    values)}: bytes for byte and ASCII types, else a list of numbers (rationals as numerator,
    denominator pairs), decoded from the file's byte order; {} where there is no such IFD."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
            order = {b"II": "<", b"MM": ">"}.get(head[:2])
            if order is None or len(head) < 8 or struct.unpack(order + "H", head[2:4])[0] != 42:
                return {}
            entries, offsets = _read_ifd(file, order, struct.unpack(order + "I", head[4:8])[0])
            for pointer in pointers:
                kind, values = entries.get(int(pointer), (0, []))
                if kind in (LONG, IFD) and values:
                    entries, offsets = _read_ifd(file, order, int(values[0]))
                elif kind == UNDEFINED and int(pointer) in offsets:  # an IFD stored as a value
                    entries, offsets = _read_ifd(file, order, offsets[int(pointer)])
                else:
                    return {}
            return entries
    except (OSError, struct.error):
        return {}


def _read_ifd(file, order: str, offset: int) -> tuple[dict[int, tuple[int, object]], dict[int, int]]:
    """(entries, the file offsets of the values stored out of line) of the IFD at `offset`."""
    file.seek(offset)
    (count,) = struct.unpack(order + "H", file.read(2))
    table = file.read(12 * count)
    entries, offsets = {}, {}
    for i in range(len(table) // 12):
        code, kind, n = struct.unpack_from(order + "HHI", table, 12 * i)
        code_of_one = STRUCT_CODES.get(kind)
        if code_of_one is None:
            continue
        values = n * (2 if kind in (RATIONAL, SRATIONAL) else 1)
        size = struct.calcsize(code_of_one) * values
        if size > _MAX_VALUE_BYTES:
            continue
        if size <= 4:
            data = table[12 * i + 8 : 12 * i + 8 + size]
        else:
            offsets[code] = struct.unpack_from(order + "I", table, 12 * i + 8)[0]
            file.seek(offsets[code])
            data = file.read(size)
        if len(data) < size:
            continue
        if kind in BYTE_TYPES:
            entries[code] = (kind, bytes(data))
        else:
            entries[code] = (kind, list(struct.unpack(f"{order}{values}{code_of_one}", data)))
    return entries, offsets


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

"""Write a Bayer mosaic as a CFA DNG (1.4) that LibRaw, dcraw, darktable, RawTherapee and exiftool
open, with the source's colour calibration, default crop, orientation, EXIF, GPS and opcode lists;
and the small TIFF encoder behind it, which the 16-bit TIFF and PNG (eXIf) outputs share.

The encoder is ours because tifffile writes no EXIF IFD (exiftool and raw developers look for
ExposureTime, ISO and the lens there, not in IFD0). The IFDs come right after the header, before
the image data: dcraw reads a file's last 512 bytes as one block and fails where IFDs sit there.
The mosaic is lossless-JPEG compressed by default (Compression 7, predictor 1, tiles of
:data:`TILE` pixels each coded as TILE/2 x TILE with 2 components, the layout Adobe's converter
writes; LibRaw reads no deflate-compressed integer DNG), or uncompressed. Tags follow the DNG 1.4
and TIFF 6 / EXIF 2.3 specifications.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from .metadata import COLOR_TAGS, D65, OPCODE_LISTS, ascii_value, photo_tags, rationals
from .parameters import check_dng_compression
from .raw import XYZ_FROM_SRGB, RawImage, channel_positions
from .tiff_tags import ASCII, BYTE, LONG, RATIONAL, SHORT, SRATIONAL, STRUCT_CODES, UNDEFINED, Tag

_CFA_CODES = {"R": 0, "G": 1, "B": 2}
#: LibRaw's flip code -> the TIFF Orientation tag that LibRaw reads back as that code.
TIFF_ORIENTATION_FROM_FLIP = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
#: TIFF Compression codes of those.
_COMPRESSION_CODES = {"ljpeg": 7, "none": 1}
#: Side of a lossless-JPEG tile, in sensor pixels (the DNG specification suggests about 256).
TILE = 256


def _field(kind: int, values) -> tuple[int, bytes]:
    """(count, little-endian bytes) of one tag's values."""
    if isinstance(values, bytes):
        return len(values), values
    values = list(np.ravel(values).tolist()) if not isinstance(values, list) else values
    data = struct.pack(f"<{len(values)}{STRUCT_CODES[kind]}", *values)
    return (len(values) // 2 if kind in (RATIONAL, SRATIONAL) else len(values)), data


def _ifd(entries, start: int) -> bytes:
    """One IFD at file offset `start`, entries sorted by tag, with its out-of-line values after it;
    its length depends on the entries' counts only, not on their values or on `start`."""
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
        head.append(struct.pack("<HHI", int(code), kind, count) + inline)
    return b"".join(head) + struct.pack("<I", 0) + tail


def tiff_bytes(ifd0, exif=(), gps=(), pieces=(), tiled: bool = False) -> tuple[bytes, bytes]:
    """(header, IFDs) of a little-endian TIFF: IFD0 right after the 8-byte header, then the EXIF
    and GPS IFDs where they have entries, then the image data: `pieces` (the byte count of each
    strip, or tile where `tiled`, in order, each starting on a word boundary) follow the IFDs."""
    offsets_tag, counts_tag = (
        (Tag.TileOffsets, Tag.TileByteCounts) if tiled else (Tag.StripOffsets, Tag.StripByteCounts)
    )
    subs = [
        (pointer, list(entries)) for pointer, entries in ((Tag.ExifTag, exif), (Tag.GPSTag, gps)) if entries
    ]

    def blocks(data_at: int, sub_at: list[int]) -> list[bytes]:
        entries = list(ifd0) + [(pointer, LONG, [at]) for (pointer, _), at in zip(subs, sub_at, strict=True)]
        if pieces:
            starts = data_at + np.concatenate([[0], np.cumsum([n + n % 2 for n in pieces])[:-1]])
            entries += [
                (offsets_tag, LONG, [int(v) for v in starts]),
                (counts_tag, LONG, [int(n) for n in pieces]),
            ]
        return [_ifd(entries, 8)] + [_ifd(sub, at) for (_, sub), at in zip(subs, sub_at, strict=True)]

    sizes = [len(block) for block in blocks(0, [0] * len(subs))]  # lengths do not depend on offsets
    starts = list(8 + np.cumsum([0, *sizes]))
    final = blocks(int(starts[-1]), [int(v) for v in starts[1:-1]])
    return b"II*\x00" + struct.pack("<I", 8), b"".join(final)


def write_tiff_pieces(path: str | os.PathLike, ifd0, exif=(), gps=(), pieces=(), tiled: bool = False) -> None:
    """Write a TIFF: header, IFDs, then `pieces` (bytes-like strips or tiles, in order)."""
    header, ifds = tiff_bytes(ifd0, exif, gps, [len(p) for p in pieces], tiled)
    with open(path, "wb") as file:
        file.write(header)
        file.write(ifds)
        for piece in pieces:
            file.write(piece)
            file.write(b"\x00" * (len(piece) % 2))


def write_tiff(path: str | os.PathLike, image: np.ndarray, ifd0, exif=()) -> None:
    """Write `image` (uint16, contiguous) as one uncompressed strip after the IFDs."""
    data = np.ascontiguousarray(image, dtype="<u2")
    write_tiff_pieces(path, ifd0, exif, (), [memoryview(data).cast("B")])


def tile_width(width: int) -> int:
    """The tiles' width for an image `width` wide: :data:`TILE`, or less (a multiple of 16, as TIFF
    asks) where LibRaw 0.22 would misread them: tiles wider than the image, and an image exactly two
    tiles wide (it then takes a tile's row for two of the image's)."""
    side = min(TILE, max(16, width // 16 * 16))
    return side - 16 if 2 * side == width else side


def ljpeg_tiles(mosaic: np.ndarray) -> tuple[int, list[bytes]]:
    """(tile width, tiles): `mosaic` (uint16) as lossless-JPEG tiles of that width and TILE rows,
    row by row, each coded as half as many columns of 2 components (a pixel pair: same-colour
    neighbours predict each other, predictor 1); tiles past the image's edge are padded with its
    last row and column."""
    import imagecodecs

    h, w = mosaic.shape
    side = tile_width(w)
    padded = np.pad(mosaic, ((0, -h % TILE), (0, -w % side)), mode="edge")

    def encode(corner: tuple[int, int]) -> bytes:
        y, x = corner
        tile = np.ascontiguousarray(padded[y : y + TILE, x : x + side]).reshape(TILE, side // 2, 2)
        return imagecodecs.jpeg8_encode(tile, lossless=True, predictor=1, bitspersample=16)

    corners = [(y, x) for y in range(0, h, TILE) for x in range(0, w, side)]
    from .parameters import usable_cores

    if usable_cores() == 1 or len(corners) == 1:
        return side, [encode(corner) for corner in corners]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(usable_cores()) as pool:  # libjpeg runs without the GIL
        return side, list(pool.map(encode, corners))


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
    return [
        (Tag.DefaultCropOrigin, LONG, [int(v) for v in origin]),
        (Tag.DefaultCropSize, LONG, [int(v) for v in size]),
    ]


def _carried_tags(raw: RawImage) -> list[tuple]:
    """The source's serial number, file name and opcode lists (these only on a mosaic of the
    source's size: their areas are in its pixels)."""
    profile = getattr(raw, "dng_tags", None) or {}
    serial = (getattr(raw, "exif", None) or {}).get("serial_number")
    entries = [(Tag.CameraSerialNumber, ASCII, ascii_value(serial))] if serial else []
    if profile.get("OriginalRawFileName"):
        entries.append((Tag.OriginalRawFileName, ASCII, ascii_value(profile["OriginalRawFileName"])))
    h, w = raw.mosaic.shape
    if list(profile.get("OpcodeListsSize") or []) == [w, h]:
        entries += [
            (tag, UNDEFINED, bytes(profile[tag.name])) for tag in OPCODE_LISTS if profile.get(tag.name)
        ]
    return entries


def _gps_entries(raw: RawImage) -> list[tuple]:
    """The source's GPS IFD as it was read ([code, type, values] entries)."""
    gps = (getattr(raw, "exif", None) or {}).get("gps") or []
    return [
        (int(code), int(kind), values if isinstance(values, bytes) else list(values))
        for code, kind, values in gps
    ]


def write_dng(path: str | os.PathLike, raw: RawImage, *, note: str = "", compression: str = "ljpeg") -> None:
    """Write ``raw.mosaic`` (uint16) as a CFA DNG with its levels, CFA, white balance, colour
    calibration, default crop, orientation, EXIF and GPS, the source's serial number, file name
    and opcode lists; `note` (what was done) goes in ImageDescription. `compression`: "ljpeg"
    (lossless JPEG, about half the size) or "none"."""
    compression = check_dng_compression(compression)
    mosaic = np.ascontiguousarray(raw.mosaic, dtype="<u2")
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
        (Tag.NewSubfileType, LONG, [0]),  # the main image
        (Tag.ImageWidth, LONG, [w]),
        (Tag.ImageLength, LONG, [h]),
        (Tag.BitsPerSample, SHORT, [16]),
        (Tag.Compression, SHORT, [_COMPRESSION_CODES[compression]]),
        (Tag.PhotometricInterpretation, SHORT, [32803]),  # CFA
        (Tag.Orientation, SHORT, [TIFF_ORIENTATION_FROM_FLIP.get(int(raw.orientation), 1)]),
        (Tag.SamplesPerPixel, SHORT, [1]),
        (Tag.PlanarConfiguration, SHORT, [1]),
        (Tag.CFARepeatPatternDim, SHORT, [2, 2]),
        (Tag.CFAPattern, BYTE, [_CFA_CODES[ch] for ch in raw.cfa]),
        (Tag.DNGVersion, BYTE, [1, 4, 0, 0]),
        (Tag.DNGBackwardVersion, BYTE, [1, 1, 0, 0]),
        (Tag.UniqueCameraModel, ASCII, ascii_value(unique)),
        (Tag.CFAPlaneColor, BYTE, [0, 1, 2]),
        (Tag.CFALayout, SHORT, [1]),  # rectangular
        (Tag.BlackLevelRepeatDim, SHORT, [2, 2]),
        (Tag.BlackLevel, RATIONAL, rationals(black_by_cell)),  # per cell of the 2x2 tile
        (Tag.WhiteLevel, LONG, [int(raw.white_level)]),
        (Tag.AsShotNeutral, RATIONAL, rationals(1.0 / wb[[0, 1, 2]])),
    ]
    ifd0 += _color_tags(raw) + _crop_tags(raw) + _carried_tags(raw)
    if compression == "ljpeg":
        side, tiles = ljpeg_tiles(mosaic)
        ifd0 += [(Tag.TileWidth, LONG, [side]), (Tag.TileLength, LONG, [TILE])]
        write_tiff_pieces(path, ifd0, exif, _gps_entries(raw), tiles, tiled=True)
    else:
        ifd0 += [(Tag.RowsPerStrip, LONG, [h])]  # one strip
        write_tiff_pieces(path, ifd0, exif, _gps_entries(raw), [memoryview(mosaic).cast("B")])

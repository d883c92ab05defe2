"""Write results: the enhanced mosaic as a DNG (:mod:`.dng`), or 16-bit RGB TIFF and PNG (a small
encoder: Pillow writes no 16-bit RGB PNG), each with the photo's metadata (:mod:`.metadata`).

TIFF carries it as tags and an EXIF IFD; PNG as tEXt/iTXt chunks and an eXIf chunk (the same EXIF,
TIFF-encoded). Both say what their pixels are, sRGB (what :mod:`.render` writes): TIFF with an
ICC profile (tag 34675, :mod:`.icc`), PNG with an ``sRGB`` chunk and the ``gAMA`` and ``cHRM``
that the PNG specification asks to go with it, for readers that know no ``sRGB``. A rendered TIFF or PNG says Orientation 1 when its pixels were already turned the
camera's way, and the camera's orientation when they kept the sensor's rows (``sensor_orientation``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib

import numpy as np

from .errors import OutputError
from .metadata import ascii_value, photo_tags, png_text, processing_note
from .output import write_atomically
from .tiff_tags import ASCII, LONG, RATIONAL, SHORT, UNDEFINED, Tag

#: EXIF's required FlashpixVersion and ColorSpace (sRGB) of a rendered image.
SRGB_EXIF = [(Tag.FlashpixVersion, UNDEFINED, b"0100"), (Tag.ColorSpace, SHORT, [1])]
#: TIFF's InterColorProfile tag: the ICC profile of the pixels.
ICC_PROFILE_TAG = Tag.InterColorProfile
#: PNG's sRGB chunk (rendering intent 0, perceptual) and the gAMA (1/2.2 x 100000) and cHRM (sRGB's
#: white and primaries x 100000) that the PNG specification recommends beside it.
PNG_SRGB_CHUNKS = [
    (b"sRGB", b"\x00"),
    (b"gAMA", struct.pack(">I", 45455)),
    (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


#: zlib level and strategy of PNG data: run-length matches only (Z_RLE) of "Up"-filtered rows, at
#: level 1: faster and smaller than level 1's default matching, and that than level 6 of unfiltered
#: rows (benchmarks/png_encoding.py; benchmarks/README.md, PNG encoding).
PNG_LEVEL = 1
PNG_STRATEGY = zlib.Z_RLE
#: Deflated in pieces of at least this many bytes, one per thread (zlib releases the GIL).
PNG_PIECE_BYTES = 4 * 2**20


def write_png16(
    path: str | os.PathLike,
    rgb: np.ndarray,
    chunks: list[tuple[bytes, bytes]] = (),
    level: int = PNG_LEVEL,
    strategy: int = PNG_STRATEGY,
) -> None:
    """(H, W, 3) uint16 -> 16-bit RGB PNG (big-endian samples, filter "Up" on every row), with
    `chunks` ((kind, payload): colour space, text, EXIF) before the image data, where every reader
    looks; `level` and `strategy` are zlib's."""
    h, w, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=">u2").view(np.uint8).reshape(h, w * 6)
    scanlines = np.empty((h, 1 + w * 6), np.uint8)
    scanlines[:, 0] = 2  # Up: each byte minus the one above it (modulo 256)
    scanlines[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=scanlines[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    data = _deflate(memoryview(scanlines.reshape(-1)), level, strategy)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_png_chunk(b"IHDR", header))
        for kind, payload in chunks:
            f.write(_png_chunk(kind, payload))
        f.write(_png_chunk(b"IDAT", data))
        f.write(_png_chunk(b"IEND", b""))


def _deflate(data: memoryview, level: int, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """One zlib stream of `data`, its pieces deflated in parallel (as pigz does): each piece but
    the last ends on a byte boundary (a sync flush), so the raw streams concatenate."""
    from concurrent.futures import ThreadPoolExecutor

    from .parameters import usable_cores

    count = max(1, min(usable_cores(), len(data) // PNG_PIECE_BYTES))
    if count == 1:
        deflate = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
        return deflate.compress(data) + deflate.flush()
    bounds = np.linspace(0, len(data), count + 1).astype(int)

    def piece(i: int) -> bytes:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, strategy)
        last = i == count - 1
        return deflate.compress(data[bounds[i] : bounds[i + 1]]) + deflate.flush(
            zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
        )

    with ThreadPoolExecutor(count) as pool:
        body = b"".join(pool.map(piece, range(count)))
    # zlib's header for a 32 KiB window at a fast level, and the Adler-32 of all the data
    return b"\x78\x01" + body + struct.pack(">I", zlib.adler32(data) & 0xFFFFFFFF)


def _orientation(raw, details: dict) -> int:
    """The TIFF Orientation of rendered pixels: 1 once LibRaw has turned them."""
    from .dng import TIFF_ORIENTATION_FROM_FLIP

    if raw is None or not details.get("sensor_orientation"):
        return 1
    return TIFF_ORIENTATION_FROM_FLIP.get(int(raw.orientation), 1)


def _png_metadata(raw, details: dict, note: str) -> list[tuple[bytes, bytes]]:
    from .dng import tiff_bytes

    chunks = list(PNG_SRGB_CHUNKS)
    if raw is not None:
        for key, text in png_text(raw, note).items():
            chunks.append((b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("latin-1", "replace")))
        ifd0, exif = photo_tags(raw, note)
        exif += SRGB_EXIF
        header, ifds = tiff_bytes([*ifd0, (Tag.Orientation, SHORT, [_orientation(raw, details)])], exif)
        chunks.append((b"eXIf", header + ifds))
    else:
        chunks.append((b"tEXt", b"Software\x00" + note.encode("latin-1", "replace")))
    payload = json.dumps(details, default=str).encode("utf-8")
    chunks.append((b"iTXt", b"darkvision\x00\x00\x00\x00\x00" + payload))  # uncompressed, no language
    return chunks


def write_tiff16(path: str | os.PathLike, rgb: np.ndarray, raw=None, details: dict | None = None) -> None:
    """(H, W, 3) uint16 -> uncompressed RGB TIFF with the sRGB ICC profile; ImageDescription holds
    `details` as JSON."""
    from .dng import write_tiff
    from .icc import srgb_profile

    details = details or {}
    h, w, _ = rgb.shape
    ifd0 = [
        (Tag.ImageWidth, LONG, [w]),
        (Tag.ImageLength, LONG, [h]),
        (Tag.BitsPerSample, SHORT, [16, 16, 16]),
        (Tag.Compression, SHORT, [1]),
        (Tag.PhotometricInterpretation, SHORT, [2]),
        (Tag.Orientation, SHORT, [_orientation(raw, details)]),
        (Tag.SamplesPerPixel, SHORT, [3]),
        (Tag.RowsPerStrip, LONG, [h]),
        (Tag.XResolution, RATIONAL, [72, 1]),
        (Tag.YResolution, RATIONAL, [72, 1]),
        (Tag.PlanarConfiguration, SHORT, [1]),
        (Tag.ResolutionUnit, SHORT, [2]),
    ]
    exif = []
    if raw is not None:
        tags, exif = photo_tags(raw)
        ifd0, exif = ifd0 + tags, exif + SRGB_EXIF
    else:
        ifd0.append((Tag.Software, ASCII, ascii_value(processing_note({}).split(";")[0])))
    ifd0.append((Tag.ImageDescription, ASCII, ascii_value(json.dumps(details, default=str))))
    ifd0.append((ICC_PROFILE_TAG, UNDEFINED, srgb_profile()))
    write_tiff(path, rgb, ifd0, exif)


def save_rgb16(
    path: str | os.PathLike,
    rgb: np.ndarray,
    metadata: dict | None = None,
    *,
    overwrite: bool = False,
    sources=(),
    raw=None,
) -> None:
    """Write a 16-bit PNG or TIFF whole or not at all (:func:`~.output.write_atomically`), with
    the photo's metadata when `raw` (the source :class:`~.raw.RawImage`) is given."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    details = {k: v for k, v in (metadata or {}).items() if not k.startswith("darkvision_")}
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint16:
        raise OutputError(f"A 16-bit RGB image is needed, not {rgb.dtype} of shape {rgb.shape}.")
    if suffix == ".png":
        chunks = _png_metadata(raw, details, processing_note(details))

        write = lambda temporary: write_png16(temporary, rgb, chunks)  # noqa: E731
    elif suffix in (".tif", ".tiff"):
        write = lambda temporary: write_tiff16(temporary, rgb, raw, details)  # noqa: E731
    else:
        raise OutputError(f"Output must end in .png, .tif or .tiff here, not {suffix!r}")
    write_atomically(path, write, overwrite=overwrite, sources=sources)


def save_dng(
    path: str | os.PathLike,
    raw,
    mosaic: np.ndarray,
    details: dict | None = None,
    *,
    overwrite: bool = False,
    sources=(),
    compression: str = "ljpeg",
) -> None:
    """Write `mosaic` (uint16, shaped like ``raw.mosaic``) as a DNG with `raw`'s levels, colour
    calibration and EXIF, whole or not at all; `details` (ratio, model...) become its note.
    `compression`: "ljpeg" (lossless JPEG) or "none" (:data:`~.parameters.DNG_COMPRESSIONS`)."""
    from .dng import write_dng
    from .parameters import check_dng_compression

    compression = check_dng_compression(compression)
    mosaic = np.asarray(mosaic)
    if mosaic.shape != raw.mosaic.shape or mosaic.dtype != np.uint16:
        raise OutputError(
            f"The enhanced mosaic ({mosaic.dtype}, {mosaic.shape}) does not match its source "
            f"({raw.mosaic.dtype}, {raw.mosaic.shape}): cannot write a DNG."
        )
    staged = dataclasses.replace(raw, mosaic=mosaic)
    note = processing_note(details)
    write_atomically(
        path,
        lambda temporary: write_dng(temporary, staged, note=note, compression=compression),
        overwrite=overwrite,
        sources=[*sources, raw.path],
    )


def save_result(
    path: str | os.PathLike, result, *, overwrite: bool = False, sources=(), dng_compression: str = "ljpeg"
) -> None:
    """Write an :class:`~.pipeline.Enhanced` result in the format of `path`'s extension: DNG
    (the enhanced mosaic, for a raw developer; `dng_compression` "ljpeg" or "none"), or the
    rendered image as 16-bit PNG/TIFF."""
    from .output import output_format

    if output_format(path) == "dng":
        if result.mosaic is None or result.raw is None:
            raise OutputError(
                "This result keeps no enhanced mosaic: it can be saved as .png or .tif, not .dng."
            )
        save_dng(
            path,
            result.raw,
            result.mosaic,
            result.metadata,
            overwrite=overwrite,
            sources=sources,
            compression=dng_compression,
        )
        return
    save_rgb16(path, result.image, result.metadata, overwrite=overwrite, sources=sources, raw=result.raw)

"""Write 16-bit RGB results: TIFF through tifffile, PNG with a small encoder (Pillow writes no
16-bit RGB PNG)."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from .output import write_atomically

OUTPUT_SUFFIXES = (".png", ".tif", ".tiff")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def write_png16(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """(H, W, 3) uint16 -> 16-bit RGB PNG (big-endian samples, filter 0 on every row)."""
    h, w, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=">u2").view(np.uint8).reshape(h, w * 6)
    scanlines = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    data = zlib.compress(scanlines.tobytes(), 6)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_png_chunk(b"IHDR", header))
        f.write(_png_chunk(b"IDAT", data))
        f.write(_png_chunk(b"IEND", b""))


def save_rgb16(path: str | os.PathLike, rgb: np.ndarray, metadata: dict | None = None, *,
               overwrite: bool = False, sources=()) -> None:  # fmt: skip
    """Write a 16-bit PNG or TIFF whole or not at all (:func:`~.output.write_atomically`)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix == ".png":
        write = lambda temporary: write_png16(temporary, rgb)  # noqa: E731
    elif suffix in (".tif", ".tiff"):
        import json

        import tifffile

        def write(temporary):
            description = json.dumps(metadata or {}, default=str)
            tifffile.imwrite(temporary, rgb, photometric="rgb", description=description)
    else:
        from .errors import OutputError

        raise OutputError(f"Output must end in {', '.join(OUTPUT_SUFFIXES)}, not {suffix!r}")
    write_atomically(path, write, overwrite=overwrite, sources=sources)


def save_result(path: str | os.PathLike, result, *, overwrite: bool = False, sources=()) -> None:
    """Write an :class:`~.pipeline.Enhanced` result in the format of `path`'s extension."""
    from .output import output_format

    if output_format(path) == "dng":
        from .errors import OutputError

        raise OutputError("DNG output is not available yet: write .png or .tif")
    save_rgb16(path, result.image, result.metadata, overwrite=overwrite, sources=sources)

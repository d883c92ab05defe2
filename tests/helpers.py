"""Helpers the tests share (fixtures live in conftest.py): paths, a synthetic raw, the real raws.

Import them as ``from helpers import synthetic_raw``: pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from napari_darkvision.core import bundled
from napari_darkvision.core.raw import RawImage, mosaic_from_packed

ROOT = Path(__file__).resolve().parent.parent
SHARED_RAW = ROOT.parent / "shared" / "raw"
#: Real raws committed with the tests (tests/data/README.md says where each comes from).
TEST_RAW = Path(__file__).resolve().parent / "data" / "raw"
#: The bundled dark sample, and its clean long exposure (in a checkout only).
SAMPLE = bundled.SAMPLE
CLEAN_REFERENCE = ROOT / "sample_data" / "gopro_clean_reference.dng"

#: The command line's enhance, quiet, at x100: add the input and the options.
ENHANCE = ["enhance", "--ratio", "100", "-q"]

#: Small enough that a test enhances it in one tile, in well under a second.
SMALL_SHAPE = (256, 384)
#: Per packed channel R, G1, B, G2: all different, so a mix-up of the CFA phase shows.
BLACK = (500.0, 510.0, 520.0, 530.0)
WHITE = 16383.0


def shared_files(folder: str = "", patterns: tuple[str, ...] = ("*",)) -> list[Path]:
    """Real raws in `folder` of the shared raw folder and of tests/data/raw, one per file name
    (the shared copy first); empty when neither has any, and the tests using them then skip."""
    found: dict[str, Path] = {}
    for base in (SHARED_RAW / folder, TEST_RAW / folder):
        if base.is_dir():
            for path in sorted({p for pattern in patterns for p in base.glob(pattern) if p.is_file()}):
                found.setdefault(path.name, path)
    return [found[name] for name in sorted(found)]


def real_raw(name: str) -> Path | None:
    """The real raw called `name` (shared or committed), or None where neither has it."""
    return next((path for path in shared_files(patterns=(name,))), None)


def synthetic_raw(cfa: str = "RGGB", shape: tuple[int, int] = SMALL_SHAPE, seed: int = 0) -> RawImage:
    """A dark scene (a few dozen DN above black, Poisson noise) as a Bayer mosaic of layout `cfa`."""
    rng = np.random.default_rng(seed)
    h, w = shape[0] // 2, shape[1] // 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    green = 60 + 20 * np.cos(yy / 15)
    signal = [40 + 30 * np.sin(xx / 20), green, 25 + 10 * xx / w, green]
    packed = np.stack([black + rng.poisson(s) for black, s in zip(BLACK, signal, strict=True)])
    return RawImage(
        mosaic=mosaic_from_packed(packed.astype(np.uint16), cfa),
        cfa=cfa,
        black_level=BLACK,
        white_level=WHITE,
        camera_wb=(2.0, 1.0, 1.5, 1.0),
        iso=6400.0,
        exposure_time=0.01,
        make="Test",
        model="Synthetic",
    )


def read_png16(path: Path) -> np.ndarray:
    """A 16-bit RGB PNG's pixels, decoded by the specification (filters None, Sub and Up)."""
    content = path.read_bytes()
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, kinds = 8, b"", []
    while at < len(content):
        (length,) = struct.unpack(">I", content[at : at + 4])
        kind, payload = content[at + 4 : at + 8], content[at + 8 : at + 8 + length]
        assert struct.unpack(">I", content[at + 8 + length : at + 12 + length])[0] == zlib.crc32(
            kind + payload
        )
        kinds.append(kind)
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", payload[:10])
            assert (depth, colour) == (16, 2)
        idat += payload if kind == b"IDAT" else b""
        at += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 6)  # checks Adler-32
    out = np.zeros((h, w * 6), np.uint8)
    for y in range(h):
        kind, line = rows[y, 0], rows[y, 1:].copy()
        if kind == 1:
            for x in range(6, w * 6):
                line[x] += line[x - 6]
        elif kind == 2 and y > 0:
            line += out[y - 1]
        else:
            assert kind in (0, 2)
        out[y] = line
    return out.view(">u2").reshape(h, w, 3).astype(np.uint16)


def one_line_error(capsys) -> str:
    """The command line's error as a person sees it: exactly one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("napari-darkvision: error:")]
    assert len(lines) == 1, err
    return lines[0]

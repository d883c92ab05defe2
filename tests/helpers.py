"""Helpers the tests share (fixtures live in conftest.py): paths, a synthetic raw, the real raws.

Import them as ``from helpers import synthetic_raw``: pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

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

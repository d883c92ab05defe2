"""Shared fixtures: small synthetic DNGs, the bundled sample, the shared real raws, and a
recorder of napari notifications.

Tests marked ``napari`` open a viewer; they need a display, so run the suite as
``xvfb-run -a python -m pytest`` (the offscreen Qt platform crashes on image layers). Without a
display they are skipped rather than crashing the run.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.raw import RawImage, mosaic_from_packed

ROOT = Path(__file__).resolve().parent.parent
SHARED_RAW = ROOT.parent / "shared" / "raw"
SAMPLE = Path(str(resources.files("napari_darkvision") / "sample_data" / "gopro_dark_x100.dng"))
CLEAN_REFERENCE = ROOT / "sample_data" / "gopro_clean_reference.dng"

#: Small enough that a test enhances it in one tile, in well under a second.
SMALL_SHAPE = (256, 384)
#: Per packed channel R, G1, B, G2: all different, so a mix-up of the CFA phase shows.
BLACK = (500.0, 510.0, 520.0, 530.0)
WHITE = 16383.0


def shared_files(folder: str = "", patterns: tuple[str, ...] = ("*",)) -> list[Path]:
    """Files in the shared raw folder (empty when it is absent: tests then skip)."""
    base = SHARED_RAW / folder
    if not base.is_dir():
        return []
    return sorted({p for pattern in patterns for p in base.glob(pattern) if p.is_file()})


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


@pytest.fixture
def make_dng(tmp_path):
    """make_dng(cfa="RGGB", name=None, shape=SMALL_SHAPE) -> (path, RawImage written there)."""

    def make(cfa: str = "RGGB", name: str | None = None, shape: tuple[int, int] = SMALL_SHAPE):
        raw = synthetic_raw(cfa, shape)
        path = tmp_path / (name or f"synthetic_{cfa}.dng")
        write_dng(path, raw)
        return path, raw

    return make


@pytest.fixture
def notifications():
    """The napari notifications dispatched during the test, in order."""
    from napari.utils.notifications import notification_manager

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)


def pytest_configure(config):
    config.addinivalue_line("markers", "napari: opens a napari viewer (needs a display: use xvfb-run -a)")


def pytest_collection_modifyitems(config, items):
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )
    if has_display:
        return
    skip = pytest.mark.skip(reason="needs a display for napari: run under `xvfb-run -a python -m pytest`")
    for item in items:
        if item.get_closest_marker("napari"):
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """Let napari's thread workers finish before Python tears Qt down: a worker still running a
    tile at exit can crash the interpreter after the tests have passed."""
    if "qtpy" not in sys.modules:
        return
    from qtpy.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(30_000)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """Eleven small smooth 'photos' (ten to train, one to validate)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:160, 0:200] / 160.0
    for i in range(11):
        phase = rng.uniform(0, 6, 3)
        rgb = 0.5 + 0.4 * np.sin(6 * xx[..., None] + 4 * yy[..., None] * (i % 3) + phase)
        Image.fromarray((rgb * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder

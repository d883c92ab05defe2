"""Fixtures: small synthetic DNGs, a recorder of napari notifications, small photos to train on.
Shared helpers (paths, the synthetic raw) are in helpers.py: ``from helpers import ...``.

Tests marked ``napari`` open a viewer; they need a display, so run the suite as
``xvfb-run -a python -m pytest`` (the offscreen Qt platform crashes on image layers). Without a
display they are skipped rather than crashing the run.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from helpers import SMALL_SHAPE, synthetic_raw
from napari_darkvision.core.dng import write_dng
from napari_darkvision.plugin.display import has_display

# make_napari_viewer fails a test that leaves a top-level Qt widget behind (napari's own strict
# mode, read when a viewer is made); NAPARI_STRICT_QT= (empty) in the environment turns it off
os.environ.setdefault("NAPARI_STRICT_QT", "raise")


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


def pytest_collection_modifyitems(config, items):
    """Skip the napari tests (marked ``napari``, registered in pyproject.toml) without a display."""
    if has_display():
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

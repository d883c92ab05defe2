"""The scripts that prepare and run training on a lent GPU machine."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT
from napari_darkvision.training.datasets import list_photos, split_photos

DEVICE = ROOT / "research" / "device"


def _pack(photo_dir, out, *extra):
    script = DEVICE / "pack_training_data.py"
    return subprocess.run(
        [sys.executable, str(script), str(photo_dir), str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_packed_photos_keep_names_and_split_within_the_budget(tmp_path, photo_dir):
    result = _pack(photo_dir, tmp_path / "pack", "--budget-mb", "0.2")
    assert result.returncode == 0, result.stderr
    packed = tmp_path / "pack" / "photos"
    assert sum(p.stat().st_size for p in packed.iterdir()) <= 0.2 * 2**20
    before, after = split_photos(list_photos(photo_dir)), split_photos(list_photos(packed))
    for a, b in zip(before, after, strict=True):
        assert [p.stem for p in a] == [p.stem for p in b]
    assert "JPEG quality" in result.stdout

    too_small = _pack(photo_dir, tmp_path / "none", "--budget-mb", "0.001")
    assert too_small.returncode != 0 and "raise --budget-mb" in too_small.stderr


@pytest.mark.skipif(shutil.which("bash") is None or sys.platform == "win32", reason="needs bash and fork")
def test_device_script_trains_and_leaves_what_may_come_back(tmp_path, photo_dir):
    """As on the GPU machine (there with cuda): a run from the source tree, its files in OUT."""
    assert _pack(photo_dir, tmp_path / "data").returncode == 0
    env = dict(
        os.environ,
        DARKVISION_DATA=str(tmp_path / "data"),
        DARKVISION_RUN=str(tmp_path / "run"),
        DARKVISION_DEVICE="cpu",
        DARKVISION_WORKERS="1",
        PYTHON=sys.executable,
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [
            "bash",
            str(DEVICE / "device_train.sh"),
            str(out),
            "--steps",
            "3",
            "--batch",
            "2",
            "--crop",
            "64",
            "--val-every",
            "3",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p.name for p in out.iterdir()} == {
        "log.csv",
        "options.json",
        "best.safetensors",
        "final.safetensors",
        "last.pt",
    }
    failed = subprocess.run(
        ["bash", str(DEVICE / "device_train.sh"), str(tmp_path / "out2"), "--arch", "no-such-arch"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert failed.returncode != 0

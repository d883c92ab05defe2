"""Bursts (core/burst.py): a synthetic handheld burst from the committed clean raw must merge into
something better than frame 0 alone, without ghosting the object that walks through; frames
that are not one burst are refused before any work; threads do not change the result."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, TEST_RAW, synthetic_raw
from napari_darkvision.cli import main
from napari_darkvision.core import burst as burst_module
from napari_darkvision.core.burst import check_burst, merge_burst, merge_steps
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.errors import BurstError
from napari_darkvision.core.pipeline import enhance_steps
from napari_darkvision.core.progress import Stage
from napari_darkvision.core.raw import pack, read_raw

CHART = TEST_RAW / "colorchart.dng"
NOISE = ROOT.parent / "shared" / "noise" / "eld_camera_params.json"
RATIO = 50


def _noise():
    from napari_darkvision.training.synth import NoiseParams

    # a SonyA7S2 draw at a middling gain (ELD's calibration), fixed so the test needs no files
    return NoiseParams(
        "SonyA7S2", K=1.5, read_sigma=2.5, read_lambda=None, row_sigma=0.3, white=15871.0, black=512.0
    )


def _clean():
    raw = read_raw(CHART)
    return dataclasses.replace(raw, mosaic=raw.mosaic[200:776, 300:1164].copy())


@pytest.fixture(scope="module")
def burst():
    from napari_darkvision.training.bursts import synthetic_burst

    return synthetic_burst(
        _clean(), 4, RATIO, _noise(), np.random.default_rng(7), shake=10.0, max_rotation=0.3
    )


def _error(raw, truth, mask=None) -> float:
    """Mean squared error of a raw at the clean exposure against the truth (packed, ratio 1)."""
    error = (np.clip(pack(raw, ratio=RATIO, clip=False), 0, 1) - pack(truth)) ** 2
    return float(error[:, mask].mean() if mask is not None else error.mean())


def test_merge_beats_frame_zero(burst):
    merged = merge_burst(burst.frames)
    gain = 10 * np.log10(_error(burst.frames[0], burst.truth) / _error(merged.raw, burst.truth))
    assert gain > 3.0, f"the 4-frame merge gains {gain:.2f} dB over frame 0 alone (in the raw)"
    assert 2.0 < merged.effective_frames <= 4.0


def test_merge_does_not_ghost(burst):
    """Where the object stands in frame 0, the merge keeps it (a plain average of the aligned
    frames would mix in the background the others saw there), and says it merged less there."""
    merged = merge_burst(burst.frames)
    top, left, side = burst.boxes[0]
    box = np.zeros_like(burst.path)
    box[top + 4 : top + side - 4, left + 4 : left + side - 4] = True  # inside, away from its rim
    for other_top, other_left, _ in burst.boxes[1:]:  # where no other frame has it
        box[other_top : other_top + side, other_left : other_left + side] = False
    assert box.sum() > 100
    truth = pack(burst.truth)[:, box].mean(axis=1)
    bias = np.abs(pack(merged.raw, ratio=RATIO, clip=False)[:, box].mean(axis=1) - truth)
    contrast = np.abs(truth - pack(burst.truth)[:, ~burst.path].mean(axis=1))
    assert np.all(bias < 0.1 * contrast + 0.005), f"bias {bias} against contrast {contrast}"
    assert merged.variance_scale[box].mean() > 0.6  # nearly frame 0 alone there
    assert merged.variance_scale[~burst.path].mean() < 0.45  # static: about a quarter


def test_small_frames_merge():
    """Frames whose coarsest pyramid level is smaller than one tile (a crop, a small stack in
    napari) merge too: four static frames of independent noise are worth more than two."""
    frames = [synthetic_raw(shape=(256, 384), seed=seed) for seed in range(4)]
    merged = merge_burst(frames)
    assert merged.raw.mosaic.shape == (256, 384)
    assert 2.0 < merged.effective_frames <= 4.0


def _true_displacement(shift, shape):
    """Where each packed pixel of frame 0 lies in a frame moved by `shift` (dy, dx in sensor
    pixels, degrees; as :func:`~napari_darkvision.training.bursts.synthetic_burst` moves it)."""
    dy, dx, degrees = shift
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(float)
    theta = np.radians(degrees)
    y, x = 2 * rows - h - dy, 2 * cols - w - dx  # sensor, about the centre, less the shift
    frame_y = np.cos(theta) * y + np.sin(theta) * x
    frame_x = -np.sin(theta) * y + np.cos(theta) * x
    return (frame_y + h) / 2 - rows, (frame_x + w) / 2 - cols


def test_alignment_follows_the_camera_not_the_object(burst):
    """The object crossing the frame is the brightest, most textured thing in it: the fitted
    motion must still be the camera's, to a fraction of a packed pixel, in every frame."""
    reference = pack(burst.frames[0], clip=False)
    noise = burst_module.estimate_frame_noise(reference)
    levels = burst_module.luma_pyramid(reference)
    shape = reference.shape[1:]
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    for k in range(1, len(burst.frames)):
        motion = burst_module.align(
            levels, burst_module.luma_pyramid(pack(burst.frames[k], clip=False)), noise
        )
        true_y, true_x = _true_displacement(burst.shifts[k], shape)
        fit_y = motion.affine[0, 0] + motion.affine[0, 1] * rows + motion.affine[0, 2] * cols
        fit_x = motion.affine[1, 0] + motion.affine[1, 1] * rows + motion.affine[1, 2] * cols
        error = np.hypot(fit_y - true_y, fit_x - true_x)
        assert error.mean() < 0.25, f"frame {k}: the fitted motion is {error.mean():.2f} packed pixels off"


def test_mismatched_frames_refused_before_reading(tmp_path, monkeypatch):
    raw = _clean()
    smaller = dataclasses.replace(raw, mosaic=raw.mosaic[:-2].copy())
    other_cfa = dataclasses.replace(raw, cfa="BGGR")
    other_camera = dataclasses.replace(raw, model="Another")
    monkeypatch.setattr(burst_module, "read_raw", lambda path: pytest.fail("a frame was read"))
    for odd, what in ((smaller, "size"), (other_cfa, "colour filter"), (other_camera, "camera")):
        with pytest.raises(BurstError, match=f"Frame 2 .*its {what}"):
            next(merge_steps([raw, raw, odd]))
    with pytest.raises(BurstError, match="at least two frames"):
        check_burst([raw])
    with pytest.raises(BurstError, match="at least two frames"):
        next(enhance_steps([raw], ratio=100))
    path = tmp_path / "frame.dng"
    write_dng(path, smaller)
    with pytest.raises(BurstError, match="size is 574x864"):
        check_burst([CHART, path])


def test_cli_refuses_mismatched_frames(tmp_path, capsys):
    raw = _clean()
    first, second = tmp_path / "a.dng", tmp_path / "b.dng"
    write_dng(first, raw)
    write_dng(second, dataclasses.replace(raw, mosaic=raw.mosaic[:, :-2].copy()))
    assert main(["enhance", "--burst", str(first), str(second), "-o", str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Frame 1 (b.dng) is not of the burst" in err
    assert main(["enhance", "--burst", str(first), "-o", str(tmp_path / "out.png")]) == 2
    assert not (tmp_path / "out.png").exists()


def test_merge_yields_per_frame_and_stops_when_closed(burst):
    steps = merge_steps(burst.frames)
    seen = []
    for event in steps:
        seen.append((event.stage, event.done))
        if event.stage == Stage.ALIGN and event.done == 2:
            steps.close()  # a cancel between frames
            break
    assert seen == [(Stage.READ, 1), (Stage.ALIGN, 1), (Stage.MERGE, 1), (Stage.ALIGN, 2)]


def test_noise_map_takes_a_per_pixel_scale():
    torch = pytest.importorskip("torch")
    from napari_darkvision.core.noise import noise_level_map

    x = torch.full((1, 4, 8, 8), 0.2)
    a, b = torch.tensor([0.01]), torch.tensor([1e-4])
    scale = torch.ones(1, 1, 8, 8)
    scale[..., 4:] = 0.25
    plain, scaled = noise_level_map(x, (a, b)), noise_level_map(x, (a, b, scale))
    assert torch.allclose(scaled[..., :4], plain[..., :4])
    assert torch.allclose(scaled[..., 4:], plain[..., 4:] + 0.25 * np.log(0.25))


_THREADS_SCRIPT = """
import hashlib, json, sys
import numpy as np, torch
sys.path.insert(0, {tests!r})
from test_burst import RATIO, _clean, _noise
from napari_darkvision.core.burst import merge_burst
from napari_darkvision.training.bursts import synthetic_burst
torch.set_num_threads(int(sys.argv[1]))
frames = synthetic_burst(_clean(), 3, RATIO, _noise(), np.random.default_rng(3)).frames
merged = merge_burst(frames)
print(json.dumps([hashlib.sha256(merged.raw.mosaic.tobytes()).hexdigest(),
                  hashlib.sha256(merged.variance_scale.tobytes()).hexdigest(), torch.get_num_threads()]))
"""


def test_same_result_at_one_and_two_threads():
    script = _THREADS_SCRIPT.format(tests=str(ROOT / "tests"))
    results = []
    for threads in ("1", "2"):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        done = subprocess.run(
            [sys.executable, "-c", script, threads], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert results[0][2] == 1 and results[1][2] == 2
    assert results[0][:2] == results[1][:2]

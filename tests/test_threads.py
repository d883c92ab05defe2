"""The same pixels at any thread count (core.threads): the network, the noise estimate and the
hot-pixel filter run on a fixed number of intra-op threads, the cores across tiles."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from helpers import ROOT, TEST_RAW, synthetic_raw
from napari_darkvision.core import threads
from napari_darkvision.core.progress import run_to_end
from napari_darkvision.core.raw import pack
from napari_darkvision.core.tiling import image_noise, run_tiled

#: One process per thread count: torch's thread settings are per process (and per thread).
ENHANCE_AT = """
import sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
from napari_darkvision.core.pipeline import enhance_steps
from napari_darkvision.core.progress import run_to_end
result = run_to_end(enhance_steps(sys.argv[2], ratio=100, precision="float32"))
np.save(sys.argv[3], result.image)
print(result.metadata["torch_threads"])
"""


def enhance_in_process(threads_count: int, source, target) -> np.ndarray:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads_count), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", ENHANCE_AT, str(threads_count), str(source), str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == threads_count  # the cores it was given, reported
    return np.load(target)


def test_a_real_raw_gives_the_same_image_at_one_two_and_three_threads(tmp_path):
    source = TEST_RAW / "colorchart.dng"
    images = {n: enhance_in_process(n, source, tmp_path / f"t{n}.npy") for n in (1, 2, 3)}
    for n in (2, 3):
        levels = np.abs(images[n].astype(np.int32) - images[1]) / 257.0
        assert levels.max() <= 1.0, f"{n} threads: {levels.max():.1f} levels, {(levels > 1).sum()} values"


def test_tiles_run_side_by_side_give_the_bits_of_one_at_a_time(monkeypatch):
    from napari_darkvision.core.pipeline import cached_model

    model = cached_model()
    packed = pack(synthetic_raw(shape=(320, 448)), ratio=100.0)
    side_by_side = run_to_end(run_tiled(model, packed, tile=96, overlap=16, precision="float32"))
    monkeypatch.setattr(threads, "parallel_pieces", lambda: 1)
    one_at_a_time = run_to_end(run_tiled(model, packed, tile=96, overlap=16, precision="float32"))
    assert np.array_equal(side_by_side, one_at_a_time)


def test_the_noise_estimate_is_the_same_to_the_bit_at_any_thread_count():
    packed = pack(synthetic_raw(shape=(1024, 1536)), ratio=100.0)
    before = torch.get_num_threads()
    try:
        estimates = set()
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            estimates.add(image_noise(packed))
        assert len(estimates) == 1
    finally:
        torch.set_num_threads(before)


def test_map_in_order_keeps_the_order_and_the_callers_threads():
    before = torch.get_num_threads()

    def slow_first(i: int) -> tuple[int, int]:
        time.sleep(0.05 if i == 0 else 0.0)  # the first piece finishes last
        return i, torch.get_num_threads()

    results = list(threads.map_in_order(slow_first, range(6), parallel=3))
    assert [i for i, _ in results] == list(range(6))
    assert {n for _, n in results} == {threads.WORK_THREADS}  # each piece on the fixed count
    assert torch.get_num_threads() == before  # the caller's own count is untouched
    # and a thread started afterwards begins with the caller's count, not the pieces'
    seen = []
    probe = __import__("threading").Thread(target=lambda: seen.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    assert seen == [before]


def test_closing_the_tiles_early_stops_between_tiles():
    from napari_darkvision.core.pipeline import cached_model

    model = cached_model()
    packed = pack(synthetic_raw(shape=(320, 448)), ratio=100.0)
    steps = run_tiled(model, packed, tile=96, overlap=16, precision="float32")
    calls = []
    original = model.forward

    def counting(*args):
        calls.append(1)
        return original(*args)

    model.forward = counting
    try:
        first = next(steps)
        steps.close()  # waits for the tiles already started; none outlives the run
        settled = len(calls)
        time.sleep(0.2)
    finally:
        del model.forward
    assert first.done == 1 and first.total > 4
    assert settled == len(calls) <= threads.parallel_pieces() + 1


def test_the_noise_measured_on_a_subsample_is_that_of_every_pixel():
    from napari_darkvision.core.noise import NOISE_POSITIONS, estimate_noise

    packed = pack(synthetic_raw(shape=(1024, 1536)), ratio=100.0)
    image = torch.from_numpy(packed)[None]
    assert image.shape[2] * image.shape[3] > 4 * NOISE_POSITIONS  # a true subsample
    a_sub, b_sub = (float(v[0]) for v in estimate_noise(image))
    a_all, b_all = (float(v[0]) for v in estimate_noise(image, positions=image.shape[2] * image.shape[3]))
    assert a_sub == pytest.approx(a_all, rel=0.05)
    # the read noise is small beside the shot noise here: judged by the variance at a mid level
    mid = float(packed.mean())
    assert a_sub * mid + b_sub == pytest.approx(a_all * mid + b_all, rel=0.05)

"""Bursts: what merging costs per extra 12 MP frame, against one frame's enhancement in the same
run, and the peak memory of enhancing an 8-frame burst against a single frame's.

    PYTHONPATH=src python benchmarks/burst.py [--frames 8] [--threads 2] [--name NAME]

Writes a markdown table to stdout and ``research/benchmarks/burst-<name>.json`` (and .md). Each
peak memory is its own child process's (``ru_maxrss``, Python, torch and the model included).
The frames are the benchmarks' synthetic 12 MP scene (``common.synthetic_raw``), each with its own
noise and moved by a few pixels, as DNGs read from disk as a user's would be.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "research" / "benchmarks"
#: The issue's budget: seconds per extra 12 MP frame on 2 cores, and the peak of 8 frames.
TARGET_SECONDS_PER_FRAME = 0.5
TARGET_PEAK_GB = 2.0


def make_frames(folder: Path, count: int) -> list[str]:
    import numpy as np
    from common import SIZES, synthetic_raw

    from napari_darkvision.core.dng import write_dng

    paths = []
    for k in range(count):
        raw = synthetic_raw(SIZES["12mp"], seed=k)
        # a hand's shake in whole Bayer quads (the cost of resampling is the same at any fraction)
        raw = dataclasses.replace(
            raw, mosaic=np.roll(raw.mosaic, (2 * (k % 3) - 2, 4 * (k % 4) - 6), axis=(0, 1))
        )
        paths.append(str(folder / f"frame{k}.dng"))
        write_dng(paths[-1], raw)
    return paths


CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
import napari_darkvision as dv
from napari_darkvision.core.burst import merge_burst
case, paths = sys.argv[2], sys.argv[3:]
result = {"case": case, "threads": torch.get_num_threads()}
if case == "timing":
    dv.enhance(paths[0], ratio=100)  # the first run (imports, model, oneDNN) is not timed
    started = time.perf_counter(); dv.enhance(paths[0], ratio=100)
    result["enhance_one_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for path in paths: dv.read_raw(path)
    result["read_all_s"] = time.perf_counter() - started
    started = time.perf_counter(); merged = merge_burst(paths)
    result["merge_s"] = time.perf_counter() - started
    result["effective_frames"] = merged.effective_frames
    started = time.perf_counter(); dv.enhance(paths[0], ratio=100)
    result["enhance_one_again_s"] = time.perf_counter() - started
elif case == "burst":
    dv.enhance(paths, ratio=100)
else:
    dv.enhance(paths[0], ratio=100)
result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(result))
"""


def child(case: str, threads: int, paths: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads), case, *paths],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default=platform.node())
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT / "src"))
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="darkvision-burst-") as folder:
        paths = make_frames(Path(folder), args.frames)
        timing = child("timing", args.threads, paths)
        burst = child("burst", args.threads, paths)
        single = child("single", args.threads, paths)
    extra = args.frames - 1
    # merging reads every frame (frame 0 included): its cost per extra frame, with and without reading
    per_frame = (timing["merge_s"] - timing["read_all_s"] / args.frames) / extra
    per_frame_no_read = (timing["merge_s"] - timing["read_all_s"]) / extra
    enhance_one = (timing["enhance_one_s"] + timing["enhance_one_again_s"]) / 2
    summary = {
        "machine": {
            "name": args.name,
            "cpus": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "frames": args.frames,
        "threads": args.threads,
        "timing": timing,
        "burst_peak_gb": burst["peak_rss_bytes"] / 1e9,
        "single_peak_gb": single["peak_rss_bytes"] / 1e9,
        "merge_per_extra_frame_s": per_frame,
        "merge_per_extra_frame_without_reading_s": per_frame_no_read,
        "merge_per_extra_frame_over_one_enhancement": per_frame / enhance_one,
        "targets": {
            "seconds_per_extra_frame": [TARGET_SECONDS_PER_FRAME, per_frame <= TARGET_SECONDS_PER_FRAME],
            "peak_gb": [TARGET_PEAK_GB, burst["peak_rss_bytes"] / 1e9 <= TARGET_PEAK_GB],
        },
    }
    table = "\n".join(
        [
            f"| 12 MP, {args.threads} threads | seconds | × one frame's enhancement | peak memory |",
            "|---|---|---|---|",
            f"| one frame enhanced (file → RGB) | {enhance_one:.2f} | 1 | {summary['single_peak_gb']:.2f} GB |",
            f"| merging, per extra frame (its reading included) | {per_frame:.2f} | {per_frame / enhance_one:.3f} | – |",
            f"| merging, per extra frame (reading excluded) | {per_frame_no_read:.2f} | {per_frame_no_read / enhance_one:.3f} | – |",
            f"| {args.frames}-frame burst enhanced (file → RGB) | – | – | {summary['burst_peak_gb']:.2f} GB |",
        ]
    )
    table += f"\n\nLoad average {load_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs).\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"burst-{args.name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    (OUT / f"burst-{args.name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

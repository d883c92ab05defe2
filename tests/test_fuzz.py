"""Mutated raws through read_raw and enhance, in a subprocess: no crash, no traceback, ever.

Each file either enhances or is refused with a DarkvisionError; anything else (another
exception, a segfault, a hang) fails the test with the file's mutation named. A crash ends only
its subprocess: the next one carries on from the file after it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import synthetic_raw
from napari_darkvision.core.dng import write_dng

SEED = 20261202
FILES = 36
#: Wall-clock bound for the whole run (a hang counts as a failure, not a stuck CI).
TIME_LIMIT_S = 300

_DRIVER = """
import json, sys
import torch
torch.set_num_threads(1)
from napari_darkvision import enhance, read_raw
from napari_darkvision.core.errors import DarkvisionError

for path in sys.argv[1:]:
    print(json.dumps({"start": path}), flush=True)
    try:
        raw = read_raw(path)
        image = enhance(raw, ratio=100, device="cpu")
        outcome = {"outcome": "enhanced", "shape": list(image.shape)}
    except DarkvisionError as err:
        outcome = {"outcome": "refused", "message": str(err)}
    except Exception as err:  # noqa: BLE001 - exactly what the test looks for
        outcome = {"outcome": "bug", "message": f"{type(err).__name__}: {err}"}
    print(json.dumps({"path": path, **outcome}), flush=True)
"""


def mutations(base: bytes, count: int, seed: int, pixels: tuple[int, int]) -> dict[str, bytes]:
    """`count` damaged copies of a file: truncations, bytes changed among the tags (outside the
    `pixels` byte range), bytes changed in the image data, and runs of bytes overwritten; the
    same for the same seed."""
    rng = np.random.default_rng(seed)
    outside = np.setdiff1d(np.arange(len(base)), np.arange(*pixels))
    out = {}
    for i in range(count):
        data = bytearray(base)
        kind = ("truncate", "tags", "pixels", "run")[i % 4]
        if kind == "truncate":
            data = data[: int(rng.integers(8, len(base)))]
        elif kind == "tags":
            for position in rng.choice(outside, int(rng.integers(1, 6))):
                data[position] = int(rng.integers(0, 256))
        elif kind == "pixels":
            for position in rng.integers(*pixels, int(rng.integers(1, 2000))):
                data[position] = int(rng.integers(0, 256))
        else:
            start = int(rng.choice(outside))
            data[start : start + int(rng.integers(4, 64))] = bytes([int(rng.integers(0, 256))]) * 64
        out[f"{i:02d}_{kind}.dng"] = bytes(data)
    return out


def pixel_bytes(path: Path) -> tuple[int, int]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        return int(page.dataoffsets[0]), int(page.dataoffsets[-1]) + int(page.databytecounts[-1])


def test_mutations_are_deterministic():
    base = bytes(range(256)) * 40
    assert mutations(base, 8, 1, (100, 9000)) == mutations(base, 8, 1, (100, 9000))
    assert mutations(base, 8, 1, (100, 9000)) != mutations(base, 8, 2, (100, 9000))


def _run(paths: list[Path], timeout: float) -> tuple[list[dict], str | None, str]:
    """Results of the files done, the file in progress when the process died (if it did), stderr."""
    try:
        done = subprocess.run([sys.executable, "-c", _DRIVER, *map(str, paths)], capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        stdout, stderr, failed = done.stdout, done.stderr, done.returncode != 0
    except subprocess.TimeoutExpired as err:
        stdout, stderr, failed = err.stdout or "", f"timed out after {timeout:.0f} s", True
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    results, started = [], None
    for line in stdout.splitlines():
        record = json.loads(line)
        if "start" in record:
            started = record["start"]
        else:
            results.append(record)
            started = None
    return results, (started if failed else None), stderr


def test_mutated_raws_are_enhanced_or_refused_never_crash(tmp_path):
    import time

    base = tmp_path / "base.dng"
    write_dng(base, synthetic_raw("GRBG", shape=(96, 128)))
    paths = []
    for name, data in mutations(base.read_bytes(), FILES, SEED, pixel_bytes(base)).items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    deadline = time.monotonic() + TIME_LIMIT_S
    results, crashes, pending = [], [], list(paths)
    while pending:
        left = deadline - time.monotonic()
        assert left > 0, f"fuzzing ran out of time with {len(pending)} files left"
        done, crashed, stderr = _run(pending, left)
        results += done
        finished = {r["path"] for r in done}
        if crashed:
            crashes.append(f"{Path(crashed).name}: {stderr.strip().splitlines()[-1:] or 'killed'}")
            finished.add(crashed)
        elif len(finished) < len(pending):
            crashes.append(f"the driver stopped early: {stderr.strip()[-300:]}")
            break
        pending = [p for p in pending if str(p) not in finished]
    bugs = [f"{Path(r['path']).name}: {r['message']}" for r in results if r["outcome"] == "bug"]
    assert not crashes and not bugs, crashes + bugs
    outcomes = {r["outcome"] for r in results}
    assert outcomes == {"refused", "enhanced"}  # damaged files, and some that LibRaw still reads
    assert len(results) == FILES

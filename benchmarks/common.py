"""What every benchmark module shares: the inputs, the targets, timing helpers, and the report
that collects the table's rows and the targets' verdicts."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: Results are the lab's record, named after the machine and run: research/benchmarks/.
RESULTS = HERE.parent / "research" / "benchmarks"
RATIO = 100.0
SIZES = {"12mp": (2848, 4256), "61mp": (6336, 9504)}  # sensor rows, columns
SIZE_LABELS = {"12mp": "12 MP", "61mp": "61 MP"}
BLACK, WHITE = 512.0, 16383.0
#: The targets of the "fast on an ordinary laptop" issue are in the module of their measurement.
NONE = "–"  # a table cell with nothing to say


def save_report(kind: str, name: str, report: dict) -> Path:
    """Write a measurement's report to ``research/benchmarks/<kind>-<name>.json``; the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"{kind}-{name}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    return target


# -- inputs ----------------------------------------------------------------------------------------


def synthetic_raw(shape: tuple[int, int], seed: int = 0):
    """A dark RGGB frame: a smooth colourful scene at 1/RATIO of a normal exposure, shot noise."""
    from napari_darkvision.core.raw import RawImage, mosaic_from_packed

    rng = np.random.default_rng(seed)
    h, w = shape[0] // 2, shape[1] // 2
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    packed = np.empty((4, h, w), dtype=np.uint16)
    # brightness of the normally exposed scene, per channel R, G1, B, G2, as a fraction of white
    waves = [(3.0, 2.0, 0.0), (2.0, 3.0, 1.0), (4.0, 1.5, 2.0), (2.0, 3.0, 1.0)]
    for channel, (fx, fy, phase) in enumerate(waves):
        scene = 0.05 + 0.2 * (1.0 + np.sin(2 * np.pi * fx * x + phase)) * (1.0 + np.cos(2 * np.pi * fy * y))
        scene += 0.3 * np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) / 0.02)  # a lamp-lit blob
        electrons = scene * ((WHITE - BLACK) / RATIO)  # gain 1 DN per electron
        noisy = rng.poisson(electrons).astype(np.float32) + BLACK
        noisy += rng.normal(0.0, 2.0, size=noisy.shape).astype(np.float32)  # read noise
        packed[channel] = np.clip(np.rint(noisy), 0, WHITE)
        del scene, electrons, noisy
    return RawImage(
        mosaic=mosaic_from_packed(packed, "RGGB"),
        cfa="RGGB",
        black_level=(BLACK,) * 4,
        white_level=WHITE,
        camera_wb=(2.0, 1.0, 1.6, 1.0),
        rgb_from_camera=np.array([[1.6, -0.5, -0.1], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]]),
        iso=12800,
        exposure_time=1 / 30,
        make="napari-darkvision",
        model="benchmark",
    )


def write_inputs(folder: Path, sizes: list[str]) -> dict[str, str]:
    """One synthetic DNG per size label in `folder`: {size label: path}."""
    from napari_darkvision.core.dng import write_dng

    paths = {}
    for seed, size in enumerate(sizes):
        path = folder / f"dark_{size}.dng"
        write_dng(path, synthetic_raw(SIZES[size], seed=seed))
        paths[size] = str(path)
    return paths


# -- measuring (in the children) -------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed_runs(run: Callable[[], object], repeats: int) -> list[float]:
    """Wall times of `repeats` calls of `run`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def network(model, packed: np.ndarray, precision: str) -> np.ndarray:
    """The tiled network on a packed image, run to its result."""
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled

    return run_to_end(run_tiled(model, packed, precision=precision))


def timed_enhance(path: str, **options) -> tuple[float, dict[str, float], dict]:
    """One end-to-end enhance (file -> RGB), its wall time and the time of each stage."""
    from napari_darkvision.core.pipeline import enhance_steps
    from napari_darkvision.core.progress import run_to_end

    marks = {}

    def mark(step) -> None:
        marks[step.stage.value] = time.perf_counter()  # the last "network" mark: the last tile

    started = time.perf_counter()
    result = run_to_end(enhance_steps(path, ratio=RATIO, **options), mark)
    ended = time.perf_counter()
    stages = {
        "read": marks["read"] - started,
        "pack_network": marks["network"] - marks["read"],
        "unpack": marks["render"] - marks["network"],
        "render": marks["done"] - marks["render"],
    }
    return ended - started, stages, result.metadata


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def warm_up(model, packed: np.ndarray, precision: str) -> None:
    """One tile (all tiles have the same padded shape), so that oneDNN's one-off set-up of a
    convolution shape is not timed."""
    from napari_darkvision.core.tiling import DEFAULT_TILE

    side = DEFAULT_TILE // model.config.multiple * model.config.multiple
    network(model, np.ascontiguousarray(packed[:, :side, :side]), precision)


# -- the report ------------------------------------------------------------------------------------


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def median_text(seconds: float, runs: list) -> str:
    """A median time and how many runs it is the median of."""
    return f"{seconds_text(seconds)} (n={len(runs)})"


def gigabytes(size: int | None) -> str:
    return NONE if size is None else f"{size / 1e9:.2f} GB"


def verdict(met: bool | None) -> str:
    return NONE if met is None else ("yes" if met else "**no**")


@dataclass
class Report:
    """The table's rows (measurement, threads, time, peak memory, target, met) and the targets."""

    rows: list[list[str]] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)

    def target(self, name: str, value, limit: float, unit: str) -> bool | None:
        """Record whether `value` is at most `limit`; None where it was not measured."""
        value = None if value is None else float(value)
        met = None if value is None else bool(value <= limit)
        self.targets.append({"name": name, "value": value, "target": limit, "unit": unit, "met": met})
        return met

    def row(
        self, measurement: str, threads, time: str, memory: str = NONE, goal: str = NONE, met: str = NONE
    ) -> None:
        self.rows.append([measurement, str(threads), time, memory, goal, met])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

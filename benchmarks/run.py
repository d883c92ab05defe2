"""Speed and memory of napari-darkvision on this computer ("fast on an ordinary laptop").

    python benchmarks/run.py            # full run: 12 MP and 61 MP, several repeats
    python benchmarks/run.py --quick    # 12 MP only, fewer repeats

Prints a markdown table and writes ``benchmarks/results/<hostname>.json`` and ``latest.json``
(see benchmarks/README.md for what each row means and the targets).

Inputs are synthetic DNGs written at benchmark time (a smooth scene, 1/100 of a normal exposure,
Poisson shot noise, black 512, white 16383, RGGB) the size of a Sony A7S II frame (12 MP) and of
a 61 MP frame. Every case runs in a child process of its own, so that its peak resident memory
is its own; the comparison with the SID reference U-Net alternates the two networks within one
process, so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RATIO = 100.0
SIZES = {"12mp": (2848, 4256), "61mp": (6336, 9504)}  # sensor rows, columns
SIZE_LABELS = {"12mp": "12 MP", "61mp": "61 MP"}
BLACK, WHITE = 512.0, 16383.0
#: Targets of the "fast on an ordinary laptop" issue.
TARGET_E2E_12MP_S = 2.0
TARGET_SID_FRACTION = 1 / 8
TARGET_PREVIEW_S = 0.3
TARGET_GAP_MS = 100.0
TARGET_MEMORY_GB = {"12mp": 2.0, "61mp": 3.0}
GAP_TIMER_MS = 10
#: "Negligible" difference of the bfloat16 network from float32: RMS at most 1/1000 of the white
#: level (16 DN of a 14-bit raw; the shipped model's own error is ~30x that) and at most half an
#: 8-bit level on average once rendered.
TARGET_PRECISION_PSNR_DB = 60.0
TARGET_PRECISION_LEVELS = 0.5
#: Set in the child that xvfb-run starts, so that it does not start another.
XVFB_ENV = "DARKVISION_BENCH_UNDER_XVFB"


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
    for channel, (fx, fy, phase) in enumerate(
        [(3.0, 2.0, 0.0), (2.0, 3.0, 1.0), (4.0, 1.5, 2.0), (2.0, 3.0, 1.0)]
    ):
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
    from napari_darkvision.core.dng import write_dng

    paths = {}
    for seed, size in enumerate(sizes):
        path = folder / f"dark_{size}.dng"
        write_dng(path, synthetic_raw(SIZES[size], seed=seed))
        paths[size] = str(path)
    return paths


# -- measuring helpers (children) ------------------------------------------------------------------


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process (ru_maxrss; Linux reports KiB, macOS bytes)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def run_generator(steps):
    from napari_darkvision.core.progress import run_to_end

    return run_to_end(steps)


def timed_enhance(path: str, **options) -> tuple[float, dict[str, float], dict]:
    """One end-to-end enhance (file -> RGB), its wall time and the time of each stage."""
    from napari_darkvision.core.pipeline import enhance_steps

    marks = {}
    started = time.perf_counter()
    from napari_darkvision.core.progress import run_to_end

    def mark(step) -> None:
        marks[step.stage.value] = time.perf_counter()  # the last "network" mark: the last tile

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
    from napari_darkvision.core.tiling import DEFAULT_TILE, run_tiled

    side = DEFAULT_TILE // model.config.multiple * model.config.multiple
    run_generator(run_tiled(model, np.ascontiguousarray(packed[:, :side, :side]), precision=precision))


# -- children --------------------------------------------------------------------------------------


def child_e2e(spec: dict) -> dict:
    """Ours, end to end on one file: median wall time, stages, peak memory."""
    set_threads(spec["threads"])
    import torch

    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw

    cached_model()
    baseline = current_rss_bytes()
    first, _, metadata = timed_enhance(spec["path"])
    times, stages = [], []
    for _ in range(spec["repeats"]):
        seconds, split, metadata = timed_enhance(spec["path"])
        times.append(seconds)
        stages.append(split)
    peak = peak_rss_bytes()
    raw = read_raw(spec["path"])
    pack_times = []
    for _ in range(3):
        started = time.perf_counter()
        pack(raw, ratio=RATIO)
        pack_times.append(time.perf_counter() - started)
    split = {key: median([s[key] for s in stages]) for key in stages[0]}
    split["pack"] = median(pack_times)
    split["network"] = max(0.0, split.pop("pack_network") - split["pack"])
    return {
        "seconds": median(times),
        "runs": times,
        "first_run_seconds": first,
        "stages": {k: split[k] for k in ("read", "pack", "network", "unpack", "render")},
        "peak_rss_bytes": peak,
        "rss_after_model_load_bytes": baseline,
        "torch_threads": torch.get_num_threads(),
        "precision": metadata.get("precision"),
        "shape": list(read_raw(spec["path"]).shape),
    }


def psnr_db(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def compare_outputs(raw, auto: np.ndarray, reference: np.ndarray) -> dict:
    """How far the network output in the "auto" precision is from float32's, as packed raw and
    as rendered sRGB (in 8-bit levels); and, for scale, how far a change of +-1 DN in the raw
    (its own quantisation) moves the float32 result."""
    from napari_darkvision.core.raw import unpack
    from napari_darkvision.core.render import render

    one_dn = reference + np.random.default_rng(0).integers(-1, 2, reference.shape) / (
        raw.white_level - max(raw.black_level)
    )
    shown = render(raw, unpack(reference, raw))
    result = {
        "packed_psnr_db": psnr_db(auto, reference, 1.0),
        "packed_max_abs": float(np.abs(auto - reference).max()),
    }
    for name, other in (("auto", auto), ("one_dn", one_dn.astype(np.float32))):
        levels = np.abs(render(raw, unpack(other, raw)).astype(np.int32) - shown) / 257.0
        result[f"{name}_rendered_psnr_db"] = psnr_db(levels, np.zeros(1), 255.0)
        result[f"{name}_rendered_mean_levels"] = float(levels.mean())
        result[f"{name}_rendered_p999_levels"] = float(np.percentile(levels, 99.9))
    result["one_dn_packed_psnr_db"] = psnr_db(one_dn, reference, 1.0)
    return result


def sample_quality(model) -> dict | None:
    """On the bundled dark sample and its clean long exposure (sample_data/ of a checkout), the
    rendered error of the network's output in float32 and in the "auto" precision: does the
    precision change the quality, next to the model's own error?"""
    from importlib import resources

    from napari_darkvision.core.raw import pack, read_raw, unpack
    from napari_darkvision.core.render import render
    from napari_darkvision.core.tiling import run_tiled

    dark_path = resources.files("napari_darkvision") / "sample_data" / "gopro_dark_x100.dng"
    clean_path = HERE.parent / "sample_data" / "gopro_clean_reference.dng"
    if not (dark_path.is_file() and clean_path.is_file()):
        return None
    dark, clean = read_raw(str(dark_path)), read_raw(clean_path)
    reference = render(clean, clean.mosaic).astype(np.int32)
    result = {}
    for precision in ("float32", "auto"):
        out = run_generator(run_tiled(model, pack(dark, ratio=RATIO), precision=precision))
        image = render(dark, unpack(out, dark))
        result[f"{precision}_mean_levels"] = float(np.mean(np.abs(image - reference)) / 257.0)
        result[f"{precision}_psnr_db"] = psnr_db(image, reference, 65535.0)
    return result


def render_by_demosaic(raw, clean: np.ndarray) -> dict:
    """LibRaw's render of the enhanced mosaic with its default demosaic (AHD) and two cheaper
    ones: seconds, and how far each is from the default (mean 8-bit levels). For information:
    the default render stays AHD."""
    from napari_darkvision.core.raw import unpack
    from napari_darkvision.core.render import render

    mosaic = unpack(clean, raw)
    result, default = {}, None
    for name in (None, "PPG", "LINEAR"):
        started = time.perf_counter()
        image = render(raw, mosaic, demosaic=name)
        seconds = time.perf_counter() - started
        if default is None:
            default = image
        levels = np.abs(image.astype(np.int32) - default) / 257.0
        result[name or "AHD (default)"] = {
            "seconds": seconds,
            "mean_levels_from_default": float(levels.mean()),
        }
    return result


def child_versus(spec: dict) -> dict:
    """Ours against the SID reference U-Net on the same file, alternating within one process."""
    set_threads(spec["threads"])
    import torch

    from napari_darkvision.core.model import SID_REFERENCE, UNet, save_weights
    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.core.tiling import run_tiled

    folder = tempfile.mkdtemp(prefix="darkvision-bench-")
    try:
        sid_weights = os.path.join(folder, "sid-reference-random.safetensors")
        torch.manual_seed(0)
        save_weights(UNet(SID_REFERENCE), sid_weights)  # random weights: for timing only
        ours, sid = cached_model(), cached_model(sid_weights)
        raw = read_raw(spec["path"])
        packed = pack(raw, ratio=RATIO)
        warm_up(ours, packed, "auto")
        warm_up(ours, packed, "float32")
        warm_up(sid, packed, "float32")
        warm_up(sid, packed, "auto")
        timed_enhance(spec["path"])  # first calls: imports, LibRaw
        timed = {
            key: []
            for key in (
                "ours_network",
                "ours_network_float32",
                "sid_network",
                "sid_network_auto",
                "ours_e2e",
                "sid_e2e",
            )
        }
        outputs = {}

        def network(key, model, precision):
            started = time.perf_counter()
            result = run_generator(run_tiled(model, packed, precision=precision))
            timed[key].append(time.perf_counter() - started)
            return result

        for _ in range(spec["rounds"]):
            outputs["auto"] = network("ours_network", ours, "auto")
            outputs["float32"] = network("ours_network_float32", ours, "float32")
            network("sid_network", sid, "float32")
            network("sid_network_auto", sid, "auto")  # like with like: SID in our precision too
            timed["ours_e2e"].append(timed_enhance(spec["path"])[0])
            timed["sid_e2e"].append(timed_enhance(spec["path"], weights=sid_weights, precision="float32")[0])
        from napari_darkvision.core.tiling import resolve_precision

        result = {key: median(values) for key, values in timed.items()}
        result["runs"] = timed
        result["precision"] = resolve_precision("auto", torch.device("cpu"))
        result["auto_vs_float32"] = compare_outputs(raw, outputs["auto"], outputs["float32"])
        result["render_by_demosaic"] = render_by_demosaic(raw, outputs["auto"])
        result["sample_quality"] = sample_quality(ours)
        result["torch_threads"] = torch.get_num_threads()
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child_preview(spec: dict) -> dict:
    """A 1 MP region (512 x 512 packed) at ratio 100: pack, network, quick_render."""
    set_threads(spec["threads"])
    import torch

    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.core.render import quick_render
    from napari_darkvision.core.tiling import run_tiled

    raw = read_raw(spec["path"])
    h, w = raw.shape
    top, left = (h // 2 - 512) // 2 * 2, (w // 2 - 512) // 2 * 2  # even: keeps the CFA phase
    region = dataclasses.replace(raw, mosaic=raw.mosaic[top : top + 1024, left : left + 1024])
    model = cached_model()

    def preview():
        packed = pack(region, ratio=RATIO)
        clean = run_generator(run_tiled(model, packed, precision="auto"))
        return quick_render(clean, region.camera_wb, region.rgb_from_camera)

    image = preview()
    times = []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        preview()
        times.append(time.perf_counter() - started)
    result = {"seconds": median(times), "runs": times, "shape": list(image.shape)}
    result["torch_threads"] = torch.get_num_threads()
    try:  # what the widget's live preview does (LibRaw render of the region), if it has one
        from napari_darkvision._state import EnhanceRequest
        from napari_darkvision._worker import run_preview
    except ImportError:
        return result
    request = EnhanceRequest(raw=raw, source_name="benchmark", ratio=RATIO, stretch=False, weights=None)
    run_preview(request)
    widget_times = []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        run_preview(request)
        widget_times.append(time.perf_counter() - started)
    result["widget_preview"] = {"seconds": median(widget_times), "runs": widget_times}
    return result


def child_gui(spec: dict) -> dict:
    """Longest gap between ticks of a 10 ms QTimer while the Enhance widget enhances the file."""
    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_darkvision._widget import EnhanceWidget

    viewer = napari.Viewer(show=True)
    (layer,) = viewer.open(spec["path"], plugin="napari-darkvision")
    widget = EnhanceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Enhance")
    widget.layer.value = layer
    widget.ratio_preset.value = "x100"
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(GAP_TIMER_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()

    def wait(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def longest_gap(start: float, end: float) -> float:
        inside = [t for t in ticks if start <= t <= end]
        edges = [start, *inside, end]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False)) * 1000

    wait(1.0)  # the window is shown and painted
    runs = []
    for label in ("first run (imports torch, loads the weights)", "later run"):
        ticks.clear()
        marks: dict[str, float] = {}
        loop = QEventLoop()
        started = time.perf_counter()
        widget.enhance_button.clicked.emit()  # as a click does
        clicked = time.perf_counter()
        worker = widget.worker
        if worker is None:
            raise RuntimeError("the Enhance button started no worker")

        def on_yielded(step, marks=marks):
            if step.stage == "done":
                marks["done"] = time.perf_counter()

        worker.yielded.connect(on_yielded)
        worker.finished.connect(lambda marks=marks: marks.setdefault("finished", time.perf_counter()))
        worker.finished.connect(lambda loop=loop: QTimer.singleShot(1000, loop.quit))
        loop.exec()
        ended = time.perf_counter()
        done = marks.get("done", marks.get("finished", ended))
        runs.append(
            {
                "label": label,
                "seconds": done - started,
                "click_ms": (clicked - started) * 1000,
                "worker_gap_ms": longest_gap(clicked, done),
                "handoff_gap_ms": longest_gap(done, ended),
                "result_layer": widget.last_result_layer is not None,
            }
        )
        widget.last_result_layer = None
    timer.stop()
    viewer.close()
    return {"runs": runs, "timer_ms": GAP_TIMER_MS, "qt_platform": os.environ.get("QT_QPA_PLATFORM", "")}


CHILDREN = {"e2e": child_e2e, "versus": child_versus, "preview": child_preview, "gui": child_gui}


def run_child(spec: dict, threads: int | None = None, timeout: float = 3600) -> dict:
    """Run one case in a fresh Python process; its result, or {"error": ...}."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's and LibRaw's OpenMP alike
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        json.dumps(spec),
        "--result-file",
        result_file,
    ]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            return {"error": f"exit status {done.returncode}", "log": tail}
        with open(result_file) as handle:
            return json.load(handle)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    finally:
        os.unlink(result_file)


# -- report ----------------------------------------------------------------------------------------


def machine_info() -> dict:
    import torch

    from napari_darkvision.core.tiling import fast_bfloat16

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "native_bfloat16": fast_bfloat16(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def gigabytes(size: int | None) -> str:
    return "–" if size is None else f"{size / 1e9:.2f} GB"


def verdict(met: bool | None) -> str:
    return "–" if met is None else ("yes" if met else "**no**")


def build_rows(results: dict, default_threads: int) -> tuple[list[list[str]], list[dict]]:
    rows, targets = [], []

    def target(name, value, limit, unit, lower_is_better=True):
        value = None if value is None else float(value)
        met = None if value is None else bool(value <= limit if lower_is_better else value >= limit)
        targets.append({"name": name, "value": value, "target": limit, "unit": unit, "met": met})
        return met

    for key, case in results.items():
        if not key.startswith("e2e_") or "error" in case:
            continue
        size, threads = case["size"], case["threads"]
        memory_limit = TARGET_MEMORY_GB[size]
        goals, met = [f"≤ {memory_limit:g} GB"], []
        met.append(
            target(f"{size} peak memory, {threads} threads", case["peak_rss_bytes"] / 1e9, memory_limit, "GB")
        )
        if size == "12mp" and threads == default_threads:
            goals.insert(0, f"≤ {TARGET_E2E_12MP_S:g} s")
            met.append(target("12mp end to end", case["seconds"], TARGET_E2E_12MP_S, "s"))
        stages = case["stages"]
        split = ", ".join(f"{name} {seconds_text(stages[name])}" for name in stages)
        rows.append(
            [
                f"{SIZE_LABELS[size]} end to end, file → RGB ({split})",
                str(threads),
                f"{seconds_text(case['seconds'])} (n={len(case['runs'])})",
                gigabytes(case["peak_rss_bytes"]),
                ", ".join(goals),
                verdict(all(met) if None not in met else None),
            ]
        )
    small, large = (
        results.get(f"e2e_12mp_t{default_threads}", {}),
        results.get(f"e2e_61mp_t{default_threads}", {}),
    )
    if "peak_rss_bytes" in small and "peak_rss_bytes" in large:
        pixels = [np.prod(case["shape"]) for case in (small, large)]
        output_growth = 6.0 * (pixels[1] - pixels[0])  # (H, W, 3) uint16
        growth = large["peak_rss_bytes"] - small["peak_rss_bytes"]
        factor = growth / output_growth
        met = target("peak memory growth 12 -> 61 MP, in units of the output's growth", factor, 1.0, "×")
        rows.append(
            ["Peak memory growth 12 MP → 61 MP, against the RGB output's growth", str(default_threads), "–", f"+{gigabytes(growth)} (output +{gigabytes(output_growth)}: {factor:.1f}×)", "≤ the output's growth", verdict(met)]  # noqa: E501
        )  # fmt: skip
    versus = results.get("versus", {})
    if versus and "error" not in versus:
        threads, n = versus["torch_threads"], len(versus["runs"]["sid_e2e"])
        e2e_fraction = versus["ours_e2e"] / versus["sid_e2e"]
        net_fraction = versus["ours_network"] / versus["sid_network"]
        met_e2e = target("12mp end to end, fraction of SID reference", e2e_fraction, TARGET_SID_FRACTION, "×")
        met_net = target("12mp network only, fraction of SID reference (float32)", net_fraction,
                         TARGET_SID_FRACTION, "×")  # fmt: skip
        precision = versus["precision"]
        float32_row = ["12 MP network only, ours (float32)", str(threads),
                       f"{seconds_text(versus['ours_network_float32'])} (n={n})", "–", "–", "–"]  # fmt: skip
        rows += [
            [
                "12 MP end to end, SID reference U-Net (float32)",
                str(threads),
                f"{seconds_text(versus['sid_e2e'])} (n={n})",
                "–",
                "–",
                "–",
            ],  # noqa: E501
            [
                "12 MP end to end, ours (same process, alternating)",
                str(threads),
                f"{seconds_text(versus['ours_e2e'])} (n={n})",
                "–",
                "–",
                "–",
            ],  # noqa: E501
            [
                "12 MP end to end, ours ÷ SID reference",
                str(threads),
                f"{e2e_fraction:.3f} (1/{1 / e2e_fraction:.0f})",
                "–",
                f"≤ 1/{1 / TARGET_SID_FRACTION:.0f}",
                verdict(met_e2e),
            ],  # noqa: E501
            [
                "12 MP network only, SID reference U-Net (float32)",
                str(threads),
                f"{seconds_text(versus['sid_network'])} (n={n})",
                "–",
                "–",
                "–",
            ],  # noqa: E501
            [
                f"12 MP network only, ours ({precision})",
                str(threads),
                f"{seconds_text(versus['ours_network'])} (n={n})",
                "–",
                "–",
                "–",
            ],  # noqa: E501
            float32_row,
            [
                "12 MP network only, ours ÷ SID reference (float32)",
                str(threads),
                f"{net_fraction:.3f} (1/{1 / net_fraction:.1f})",
                "–",
                f"≤ 1/{1 / TARGET_SID_FRACTION:.0f}",
                verdict(met_net),
            ],  # noqa: E501
        ]
        if precision == "float32":  # no native bfloat16: the row before already ran in float32
            rows.remove(float32_row)
        if "sid_network_auto" in versus and precision != "float32":
            same_fraction = versus["ours_network"] / versus["sid_network_auto"]
            rows += [
                [
                    f"12 MP network only, SID reference U-Net ({precision}, as ours runs)",
                    str(threads),
                    f"{seconds_text(versus['sid_network_auto'])} (n={n})",
                    "–",
                    "–",
                    "–",
                ],
                [
                    f"12 MP network only, ours ÷ SID reference, both {precision}",
                    str(threads),
                    f"{same_fraction:.3f} (1/{1 / same_fraction:.1f})",
                    "–",
                    "–",
                    "–",
                ],
            ]
        if precision != "float32":
            check = versus["auto_vs_float32"]
            close = check["packed_psnr_db"] >= TARGET_PRECISION_PSNR_DB
            met = close and target(
                f"{precision} vs float32, rendered mean 8-bit levels",
                check["auto_rendered_mean_levels"],
                TARGET_PRECISION_LEVELS,
                "levels",
            )  # noqa: E501
            rows.append(
                [f"12 MP output, {precision} vs float32 (for scale: ±1 DN of raw noise)", str(threads), f"raw PSNR {check['packed_psnr_db']:.0f} dB ({check['one_dn_packed_psnr_db']:.0f}); sRGB mean {check['auto_rendered_mean_levels']:.2f} ({check['one_dn_rendered_mean_levels']:.2f}), 99.9% {check['auto_rendered_p999_levels']:.1f} ({check['one_dn_rendered_p999_levels']:.1f}) 8-bit levels", "–", f"raw PSNR ≥ {TARGET_PRECISION_PSNR_DB:g} dB, sRGB mean ≤ {TARGET_PRECISION_LEVELS:g}", verdict(met)]  # noqa: E501
            )  # fmt: skip
    quality = versus.get("sample_quality") if "error" not in versus else None
    if quality:
        # both precisions where they differ; without native bfloat16 "auto" is float32 itself
        def both(key: str) -> str:
            same = versus["precision"] == "float32"
            return f"{quality['float32_' + key]:.2f}" + ("" if same else f" / {quality['auto_' + key]:.2f}")

        label = "float32" if versus["precision"] == "float32" else f"float32 / {versus['precision']}"
        rows.append(
            [f"Bundled GoPro sample vs its clean reference, {label} network", str(versus["torch_threads"]), f"sRGB PSNR {both('psnr_db')} dB, mean error {both('mean_levels')} 8-bit levels", "–", "–", "–"]  # noqa: E501
        )  # fmt: skip
    renders = versus.get("render_by_demosaic") if "error" not in versus else None
    if renders:
        text = ", ".join(
            f"{name} {seconds_text(r['seconds'])}"
            + (f" (Δ {r['mean_levels_from_default']:.1f} levels)" if r["mean_levels_from_default"] else "")
            for name, r in renders.items()
        )
        rows.append(["12 MP LibRaw render by demosaic (information; the default stays AHD)", str(versus["torch_threads"]), text, "–", "–", "–"])  # noqa: E501  # fmt: skip
    preview = results.get("preview", {})
    if preview and "error" not in preview:
        met = target("1 MP preview", preview["seconds"], TARGET_PREVIEW_S, "s")
        rows.append(
            ["1 MP preview (512 × 512 packed: network + quick_render)", str(preview["torch_threads"]), f"{seconds_text(preview['seconds'])} (n={len(preview['runs'])})", "–", f"≤ {TARGET_PREVIEW_S:g} s", verdict(met)]  # noqa: E501
        )  # fmt: skip
        widget = preview.get("widget_preview")
        if widget:
            rows.append(
                ["1 MP preview as the widget makes it (network + LibRaw render of the region)", str(preview["torch_threads"]), f"{seconds_text(widget['seconds'])} (n={len(widget['runs'])})", "–", "–", "–"]  # noqa: E501
            )  # fmt: skip
    gui = results.get("gui", {})
    if gui and "error" not in gui:
        for run in gui["runs"]:
            met = target(f"longest event-loop gap, {run['label']}", run["worker_gap_ms"], TARGET_GAP_MS, "ms")
            rows.append(
                [f"Longest Qt event-loop gap while the widget enhances 12 MP, {run['label']}", str(default_threads), f"{run['worker_gap_ms']:.0f} ms (run {seconds_text(run['seconds'])})", "–", f"≤ {TARGET_GAP_MS:g} ms", verdict(met)]  # noqa: E501
            )  # fmt: skip
            rows.append(
                ["… then while the widget adds the 12 MP result layer", str(default_threads), f"{run['handoff_gap_ms']:.0f} ms", "–", "–", "–"]  # noqa: E501
            )  # fmt: skip
    for key, case in results.items():
        if "error" in case:
            rows.append([f"{key}: failed ({case['error']})", "–", "–", "–", "–", "–"])
    return rows, targets


def markdown_table(rows: list[list[str]]) -> str:
    header = ["Measurement", "Threads", "Time (median)", "Peak memory", "Target", "Met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------


def maybe_reexec_under_xvfb(args) -> None:
    """The responsiveness case needs a display: without one, run again under ``xvfb-run -a``."""
    if (
        args.no_gui
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get(XVFB_ENV)
    ):
        return
    if sys.platform.startswith("linux") and shutil.which("xvfb-run"):
        env = {**os.environ, XVFB_ENV: "1"}
        command = ["xvfb-run", "-a", sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
        os.execvpe("xvfb-run", command, env)


def plain(value):
    """JSON for numpy scalars and arrays."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="12 MP only, fewer repeats")
    parser.add_argument(
        "--repeats", type=int, help="timed runs per end-to-end case (default 5, quick 2; at most 3 at 61 MP)"
    )
    parser.add_argument("--sid-rounds", type=int, help="alternating rounds ours/SID (default 3, quick 1)")
    parser.add_argument("--threads", type=int, nargs="+", help="torch thread counts (default: 1, 2 and all)")
    parser.add_argument(
        "--only", nargs="+", choices=["e2e", "versus", "preview", "gui"], help="run these parts only"
    )
    parser.add_argument("--no-gui", action="store_true", help="skip the napari responsiveness case")
    parser.add_argument("--name", help="results file name (default: this computer's hostname)")
    parser.add_argument("--no-save", action="store_true", help="print the table, write no JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        spec = json.loads(args.child)
        result = CHILDREN[spec["kind"]](spec)
        with open(args.result_file, "w") as handle:
            json.dump(result, handle)
        return 0

    maybe_reexec_under_xvfb(args)
    import torch  # noqa: F401 - the machine info needs it

    machine = machine_info()
    default_threads = machine["torch_default_threads"]
    threads = args.threads or sorted({1, min(2, os.cpu_count() or 1), default_threads})
    repeats = args.repeats or (2 if args.quick else 5)
    rounds = args.sid_rounds or (1 if args.quick else 3)
    sizes = ["12mp"] if args.quick else ["12mp", "61mp"]
    parts = set(args.only or ["e2e", "versus", "preview", "gui"])
    if args.no_gui:
        parts.discard("gui")
    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="darkvision-bench-") as folder:
        log(f"writing synthetic DNGs ({', '.join(SIZE_LABELS[s] for s in sizes)}) ...")
        paths = write_inputs(Path(folder), sizes)
        if "e2e" in parts:
            for size in sizes:
                for n in threads if size == "12mp" else [default_threads]:
                    log(f"{SIZE_LABELS[size]} end to end, {n} threads ...")
                    spec = {
                        "kind": "e2e",
                        "path": paths[size],
                        "threads": n,
                        "repeats": repeats if size == "12mp" else min(repeats, 3),
                    }
                    results[f"e2e_{size}_t{n}"] = {"size": size, "threads": n, **run_child(spec, n)}
        if "versus" in parts:
            log(f"12 MP ours vs SID reference, {rounds} alternating round(s) ...")
            spec = {"kind": "versus", "path": paths["12mp"], "threads": default_threads, "rounds": rounds}
            results["versus"] = run_child(spec, default_threads)
        if "preview" in parts:
            log("1 MP preview ...")
            spec = {"kind": "preview", "path": paths["12mp"], "threads": default_threads, "repeats": 10}
            results["preview"] = run_child(spec, default_threads)
        if "gui" in parts:
            if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
                log("napari widget responsiveness, 12 MP ...")
                results["gui"] = run_child({"kind": "gui", "path": paths["12mp"]}, default_threads)
            else:
                results["gui"] = {"error": "no display and no xvfb-run: responsiveness not measured"}
    rows, targets = build_rows(results, default_threads)
    table = markdown_table(rows)
    machine["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    load = machine["load_average_at_start"]
    title = (
        f"napari-darkvision benchmark on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, "
        f"torch {machine['torch']}, native bfloat16: {'yes' if machine['native_bfloat16'] else 'no'}"
        + (f", load average {load[0]:.1f} at start" if load else "")
        + ")"
    )
    print(f"{title}\n\n{table}\n")
    if not args.no_save:
        name = args.name or socket.gethostname() or "this-machine"
        report = {
            "schema": 1,
            "name": name,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
            "quick": args.quick,
            "ratio": RATIO,
            "machine": machine,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "results": results,
            "targets": targets,
            "table": table,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        for path in (RESULTS / f"{name}.json", RESULTS / "latest.json"):
            path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=plain) + "\n")
        log(f"wrote {RESULTS / (name + '.json')} and latest.json ({report['wall_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

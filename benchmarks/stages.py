"""Where the time of a 12 MP frame goes, stage by stage, against the SID U-Net's network alone in
the same run (issue 26: end to end at least 8x faster than SID's network, at most 2 GB).

    python benchmarks/stages.py [--weights NAME=PATH ...] [--rounds 3] [--name NAME]

The input is the whole GoPro HERO7 frame of ``../shared/raw`` (12 MP, what the bundled sample is
a crop of), darkened x100 with the Sony A7S II's calibrated noise at ISO 3200 as
``sample_data/make_sample.py`` darkens the sample; without the shared folder, the synthetic
12 MP frame of the other benchmarks. In one process, round after round: for each model the
stages one by one (read, pack, noise estimate, hot-pixel filter, network, tile blending,
channel levels, unpack, render, write) and then the real thing (``enhance_steps`` and
``save_result``, file to file), and the SID U-Net's network alone (random weights, which time
the same) on the same packed frame, all in float32; alternating, so that a busy machine slows
all alike. Each model's peak memory is measured in a process of its own. Also in the same rounds:
the network as it ran before ``core.threads`` (one tile at a time on all threads), for the
speed that fixing the summation order costs or gains.

Writes ``research/benchmarks/stages-<name>.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
RATIO = 100.0
ISO = 3200
SONY_K_PER_ISO = 9.56e-4  # as sample_data/make_sample.py
TARGET_SID_RATIO = 8.0
TARGET_MEMORY_GB = 2.0
STAGES = ("read", "pack", "noise", "hot_pixels", "network", "blending", "levels", "unpack", "render", "write")


def write_input(folder: Path) -> tuple[str, str]:
    """The dark 12 MP DNG in `folder`, and where it comes from."""
    sys.path.insert(0, str(HERE))
    from napari_darkvision.core.dng import write_dng

    path = folder / "dark_12mp.dng"
    source_path = SHARED / "raw" / "HERO7_GOPR9231.DNG"
    noise_path = SHARED / "noise" / "eld_camera_params.json"
    if not (source_path.is_file() and noise_path.is_file()):
        from common import synthetic_raw

        write_dng(path, synthetic_raw((2848, 4256)))
        return str(path), "synthetic 12 MP frame (benchmarks/common.py)"
    from napari_darkvision.core.raw import RawImage, mosaic_from_packed, pack, read_raw
    from napari_darkvision.training.synth import ELD_BLACK, ELD_WHITE, NoiseModel, short_exposure

    source = read_raw(source_path)
    clean = np.clip(pack(source), 0.0, 1.0)
    rng = np.random.default_rng(2018)
    noise = NoiseModel.from_files(str(noise_path)).eld_params("SonyA7S2", rng, K=SONY_K_PER_ISO * ISO)
    dark = short_exposure(clean, RATIO, noise, rng)
    mosaic = mosaic_from_packed(np.rint(dark * (ELD_WHITE - ELD_BLACK) + ELD_BLACK).astype(np.uint16), "RGGB")
    raw = RawImage(
        mosaic=mosaic,
        cfa="RGGB",
        black_level=(ELD_BLACK,) * 4,
        white_level=ELD_WHITE,
        camera_wb=source.camera_wb,
        rgb_from_camera=source.rgb_from_camera,
        iso=ISO,
        exposure_time=(source.exposure_time or 1 / 500) / RATIO,
        make="GoPro",
        model="HERO7 Black",
    )
    write_dng(path, raw)
    return str(path), f"{source_path.name} ({mosaic.shape[0]} x {mosaic.shape[1]}), darkened x{RATIO:g}"


class _Tiling:
    """A stand-in network that returns its input: run_tiled with it times the tiling alone
    (cutting, padding, weighting and adding the tiles, the finiteness check)."""

    def __init__(self, model):
        import torch

        self.config = dataclasses.replace(model.config, noise_map=False)
        self._parameter = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self._parameter])

    def __call__(self, x, noise=None):
        return x[:, :4]


def staged(model, path: str, folder: str) -> tuple[dict[str, float], float]:
    """Each stage of one enhancement of `path` by `model`, timed one by one (seconds), and the
    sum of the stages."""
    from napari_darkvision.core.export import save_result
    from napari_darkvision.core.hot_pixels import replace_hot_pixels
    from napari_darkvision.core.pipeline import Enhanced
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.raw import pack, read_raw, unpack
    from napari_darkvision.core.render import render
    from napari_darkvision.core.tiling import image_noise, keep_channel_levels, run_tiled

    times = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        times[name] = now - clock
        clock = now

    raw = read_raw(path)
    lap("read")
    packed = pack(raw, ratio=RATIO)
    lap("pack")
    noise = image_noise(packed)
    lap("noise")
    packed, _ = replace_hot_pixels(packed, noise)
    lap("hot_pixels")
    clean = run_to_end(run_tiled(model, packed, noise=noise, precision="float32", keep_levels=False))
    lap("network")
    run_to_end(run_tiled(_Tiling(model), packed, keep_levels=False))
    lap("blending")
    clean = keep_channel_levels(clean, packed)
    lap("levels")
    mosaic = unpack(clean, raw)
    lap("unpack")
    image = render(raw, mosaic)
    lap("render")
    target = Path(folder) / "staged.png"
    save_result(target, Enhanced(image, {"source": path}, mosaic=mosaic, raw=raw), overwrite=True)
    lap("write")
    times["network"] -= times["blending"]  # run_tiled's time is the network's and the tiling's
    return times, sum(times.values())


def end_to_end(weights: str | None, path: str, folder: str) -> tuple[float, float]:
    """The real thing, file to image and file to file (``enhance_steps``, ``save_result``)."""
    from napari_darkvision.core.export import save_result
    from napari_darkvision.core.pipeline import enhance_steps
    from napari_darkvision.core.progress import run_to_end

    started = time.perf_counter()
    result = run_to_end(enhance_steps(path, ratio=RATIO, weights=weights, precision="float32"))
    to_image = time.perf_counter() - started
    save_result(Path(folder) / "result.png", result, overwrite=True)
    return to_image, time.perf_counter() - started


def network_alone(model, packed: np.ndarray, legacy: bool = False) -> float:
    """The tiled network on the packed frame, float32; `legacy`: one tile at a time on all of
    the caller's threads, as before core.threads."""
    from napari_darkvision.core import threads
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled

    saved = threads.WORK_THREADS
    if legacy:
        import torch

        threads.WORK_THREADS = torch.get_num_threads()
    try:
        started = time.perf_counter()
        run_to_end(run_tiled(model, packed, precision="float32", keep_levels=False))
        return time.perf_counter() - started
    finally:
        threads.WORK_THREADS = saved


def child_rounds(spec: dict) -> dict:
    """Every model's stages and end to end, SID's network, alternating for `rounds` rounds."""
    import torch

    from napari_darkvision.core.model import SID_REFERENCE, UNet
    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw

    torch.manual_seed(0)
    models = {name: cached_model(weights) for name, weights in spec["models"].items()}
    sid = UNet(SID_REFERENCE).eval().to(memory_format=torch.channels_last)
    packed = pack(read_raw(spec["path"]), ratio=RATIO)
    folder = tempfile.mkdtemp(prefix="darkvision-stages-")
    timed: dict = {"sid_network": [], "sid_network_legacy": []}
    for name in models:
        timed[name] = {"stages": [], "stage_sum": [], "to_image": [], "to_file": [], "network_legacy": []}
    # untimed warm-up: imports, oneDNN's set-up of each shape
    for name, model in models.items():
        staged(model, spec["path"], folder)
        end_to_end(spec["models"][name], spec["path"], folder)
    network_alone(sid, packed)
    for round_ in range(spec["rounds"]):
        print(f"round {round_ + 1} of {spec['rounds']}", file=sys.stderr, flush=True)
        for name, model in models.items():
            stages, total = staged(model, spec["path"], folder)
            timed[name]["stages"].append(stages)
            timed[name]["stage_sum"].append(total)
            to_image, to_file = end_to_end(spec["models"][name], spec["path"], folder)
            timed[name]["to_image"].append(to_image)
            timed[name]["to_file"].append(to_file)
            timed[name]["network_legacy"].append(network_alone(model, packed, legacy=True))
        timed["sid_network"].append(network_alone(sid, packed))
        timed["sid_network_legacy"].append(network_alone(sid, packed, legacy=True))
    return {"timed": timed, "torch_threads": torch.get_num_threads(), "shape": list(packed.shape)}


def child_memory(spec: dict) -> dict:
    """Peak memory of one model's enhancement, file to file, in a process of its own."""
    import resource

    folder = tempfile.mkdtemp(prefix="darkvision-stages-")
    to_image, to_file = end_to_end(spec["weights"], spec["path"], folder)
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "to_file": to_file}


CHILDREN = {"rounds": child_rounds, "memory": child_memory}


def run_child(spec: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = handle.name
    command = [sys.executable, __file__, "--child", json.dumps(spec), "--result-file", result_file]
    try:
        done = subprocess.run(command, stderr=None, timeout=7200, check=False)
        if done.returncode:
            return {"error": f"exit status {done.returncode}"}
        return json.loads(Path(result_file).read_text())
    finally:
        os.unlink(result_file)


def median(values) -> float:
    return float(np.median(values))


def summarise(results: dict) -> dict:
    """Medians, ratios against SID's network (from the same rounds) and the targets."""
    timed = results["rounds"]["timed"]
    sid = median(timed["sid_network"])
    summary = {
        "sid_network_s": sid,
        "sid_network_legacy_s": median(timed["sid_network_legacy"]),
        "models": {},
    }
    for name, model in timed.items():
        if name.startswith("sid_"):
            continue
        stages = {key: median([s[key] for s in model["stages"]]) for key in STAGES}
        to_image, to_file = median(model["to_image"]), median(model["to_file"])
        peak = results["memory"].get(name, {}).get("peak_rss_bytes")
        summary["models"][name] = {
            "stages_s": stages,
            "stage_sum_s": median(model["stage_sum"]),
            "to_image_s": to_image,
            "to_file_s": to_file,
            "network_legacy_s": median(model["network_legacy"]),
            "sid_ratio_to_image": sid / to_image,
            "sid_ratio_to_file": sid / to_file,
            "peak_rss_gb": None if peak is None else peak / 1e9,
            "met": bool(
                sid / to_image >= TARGET_SID_RATIO and peak is not None and peak / 1e9 <= TARGET_MEMORY_GB
            ),
        }
    return summary


def table(summary: dict, rounds: int) -> str:
    names = list(summary["models"])
    lines = ["| Stage | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in STAGES:
        cells = [f"{summary['models'][n]['stages_s'][key] * 1000:.0f} ms" for n in names]
        lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(cells) + " |")

    def row(label, value):
        lines.append(f"| {label} | " + " | ".join(value(summary["models"][n]) for n in names) + " |")

    row("**sum of the stages**", lambda m: f"**{m['stage_sum_s']:.2f} s**")
    row("end to end, file → image (`enhance`)", lambda m: f"{m['to_image_s']:.2f} s")
    row("end to end, file → PNG file", lambda m: f"{m['to_file_s']:.2f} s")
    row(
        f"SID U-Net network alone ({summary['sid_network_s']:.2f} s) ÷ file → image",
        lambda m: f"**{m['sid_ratio_to_image']:.1f}×**",
    )
    row("SID ÷ file → PNG file", lambda m: f"{m['sid_ratio_to_file']:.1f}×")
    row("peak memory (own process, file → file)", lambda m: f"{m['peak_rss_gb']:.2f} GB")
    row(
        "network as before (one tile at a time on all threads)",
        lambda m: f"{m['network_legacy_s'] * 1000:.0f} ms (now {m['stages_s']['network'] * 1000:.0f})",
    )
    lines.append(
        f"\nMedians of {rounds} alternating rounds, float32. SID's network as before core.threads: "
        f"{summary['sid_network_legacy_s']:.2f} s."
    )
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights", nargs="*", default=[], help="NAME=PATH: a model to time beside the shipped one"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default=socket.gethostname())
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        Path(args.result_file).write_text(json.dumps(CHILDREN[spec["kind"]](spec)))
        return 0
    import torch

    from napari_darkvision.core.tiling import fast_bfloat16

    models = {"release 5 (shipped)": None}
    models.update(dict(item.split("=", 1) for item in args.weights))
    load = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="darkvision-stages-") as folder:
        path, source = write_input(Path(folder))
        results = {"memory": {}}
        for name, weights in models.items():
            results["memory"][name] = run_child({"kind": "memory", "path": path, "weights": weights})
        results["rounds"] = run_child(
            {"kind": "rounds", "path": path, "models": models, "rounds": args.rounds}
        )
    summary = summarise(results)
    text = table(summary, args.rounds)
    report = {
        "name": args.name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/stages.py " + " ".join(sys.argv[1:]),
        "input": source,
        "precision": "float32",
        "machine": {
            "cpu": cpu_name(),
            "logical_cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": results["rounds"].get("torch_threads"),
            "native_bfloat16": fast_bfloat16(),
            "load_average_at_start": list(load),
            "load_average_at_end": list(os.getloadavg()),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "models": models,
        "results": results,
        "summary": summary,
        "table": text,
    }
    target = save_report("stages", args.name, report)
    print(f"{source}\n\n{text}\n\nwrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

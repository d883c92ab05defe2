"""Speed and memory of napari-darkvision on this computer ("fast on an ordinary laptop").

    python benchmarks/run.py            # full run: 12 MP and 61 MP, several repeats
    python benchmarks/run.py --quick    # 12 MP only, fewer repeats

Prints a markdown table and writes ``research/benchmarks/<hostname>.json`` and ``latest.json``
(see benchmarks/README.md for what each row means and the targets).

Inputs are synthetic DNGs written at benchmark time (a smooth scene, 1/100 of a normal exposure,
Poisson shot noise, black 512, white 16383, RGGB) the size of a Sony A7S II frame (12 MP) and of
a 61 MP frame. Every case runs in a child process of its own, so that its peak resident memory
is its own; the comparison with the SID reference U-Net alternates the two networks within one
process, so that a busy machine slows both alike.

This file is the driver; each measurement is a module beside it (end_to_end, network, memory,
responsiveness), with its child process's work and its rows of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import end_to_end
import memory
import network
import numpy as np
import responsiveness
from common import RATIO, RESULTS, SIZE_LABELS, Report, log, write_inputs

from napari_darkvision.plugin.display import has_display

#: Set in the child that xvfb-run starts, so that it does not start another.
XVFB_ENV = "DARKVISION_BENCH_UNDER_XVFB"
CHILDREN = {
    "e2e": end_to_end.child,
    "versus": network.child,
    "preview": responsiveness.child_preview,
    "gui": responsiveness.child_gui,
}


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
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory_bytes = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_bytes": memory_bytes,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "native_bfloat16": fast_bfloat16(),
        "load_average_at_start": load_average(),
    }


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def build_rows(results: dict, default_threads: int) -> tuple[list[list[str]], list[dict]]:
    """The table's rows and the targets, measurement by measurement, then the failed cases."""
    report = Report()
    end_to_end.rows(report, results, default_threads)
    memory.growth_row(report, results, default_threads)
    network.rows(report, results)
    responsiveness.rows(report, results, default_threads)
    for key, case in results.items():
        if "error" in case:
            report.row(f"{key}: failed ({case['error']})", "–", "–")
    return report.rows, report.targets


def markdown_table(rows: list[list[str]]) -> str:
    header = ["Measurement", "Threads", "Time (median)", "Peak memory", "Target", "Met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def maybe_reexec_under_xvfb(args) -> None:
    """The responsiveness case needs a display: without one, run again under ``xvfb-run -a``."""
    if args.no_gui or has_display() or os.environ.get(XVFB_ENV):
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def run_cases(args, default_threads: int) -> dict[str, dict]:
    """Every case the arguments ask for, each in a child process: {case name: its result}."""
    threads = args.threads or sorted({1, min(2, os.cpu_count() or 1), default_threads})
    repeats = args.repeats or (2 if args.quick else 5)
    rounds = args.sid_rounds or (1 if args.quick else 3)
    sizes = ["12mp"] if args.quick else ["12mp", "61mp"]
    parts = set(args.only or ["e2e", "versus", "preview", "gui"]) - ({"gui"} if args.no_gui else set())
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="darkvision-bench-") as folder:
        log(f"writing synthetic DNGs ({', '.join(SIZE_LABELS[s] for s in sizes)}) ...")
        paths = write_inputs(Path(folder), sizes)
        if "e2e" in parts:
            for size in sizes:
                for n in threads if size == "12mp" else [default_threads]:
                    log(f"{SIZE_LABELS[size]} end to end, {n} threads ...")
                    n_repeats = repeats if size == "12mp" else min(repeats, 3)
                    spec = {"kind": "e2e", "path": paths[size], "threads": n, "repeats": n_repeats}
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
            if has_display():
                log("napari widget responsiveness, 12 MP ...")
                results["gui"] = run_child({"kind": "gui", "path": paths["12mp"]}, default_threads)
            else:
                results["gui"] = {"error": "no display and no xvfb-run: responsiveness not measured"}
    return results


def save(args, machine: dict, results: dict, targets: list[dict], table: str, seconds: float) -> None:
    """The report as ``research/benchmarks/<name>.json`` and ``research/benchmarks/latest.json``."""
    name = args.name or socket.gethostname() or "this-machine"
    report = {
        "schema": 1,
        "name": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "ratio": RATIO,
        "machine": machine,
        "wall_seconds": round(seconds, 1),
        "results": results,
        "targets": targets,
        "table": table,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for path in (RESULTS / f"{name}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=plain) + "\n")
    log(f"wrote {RESULTS / (name + '.json')} and latest.json ({report['wall_seconds']:.0f} s in all)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        result = CHILDREN[spec["kind"]](spec)
        with open(args.result_file, "w") as handle:
            json.dump(result, handle)
        return 0
    maybe_reexec_under_xvfb(args)
    machine = machine_info()
    started = time.perf_counter()
    results = run_cases(args, machine["torch_default_threads"])
    rows, targets = build_rows(results, machine["torch_default_threads"])
    table = markdown_table(rows)
    machine["load_average_at_end"] = load_average()
    load = machine["load_average_at_start"]
    title = (
        f"napari-darkvision benchmark on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, "
        f"torch {machine['torch']}, native bfloat16: {'yes' if machine['native_bfloat16'] else 'no'}"
        + (f", load average {load[0]:.1f} at start" if load else "")
        + ")"
    )
    print(f"{title}\n\n{table}\n")
    if not args.no_save:
        save(args, machine, results, targets, table, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

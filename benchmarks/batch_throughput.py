"""Batch throughput: files per minute on a folder of 12 MP raws, the same command run four ways.

    python benchmarks/batch_throughput.py              # 40 files (the issue's measurement)
    python benchmarks/batch_throughput.py --files 12   # a shorter run

Each run is ``napari-darkvision enhance IN -o OUT -q`` in a process of its own: the sequential loop
(``--scheduler none``), the default local Dask cluster, and clusters of 1 and 2 workers started
here with ``dask scheduler`` / ``dask worker --nthreads 1`` (``--scheduler ADDRESS``); then the
default run killed (SIGKILL, as a power cut) halfway and rerun. Writes
``research/benchmarks/batch-<name>.json`` and prints a markdown table. Throughput is given end to
end (process start to exit: imports, cluster start, model loads included) and steady (between
the first and the last output written). Peak memory per worker is each task's process's
``ru_maxrss`` as the batch summary records it. Inputs: synthetic 12 MP DNGs like
benchmarks/common.py's, four different scenes, copied to make up the count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, SIZES, synthetic_raw  # noqa: E402

CLI = [sys.executable, "-m", "napari_darkvision.cli", "enhance"]
DASK = Path(sys.executable).with_name("dask")
SCENES = 4
TARGET_FILES = 10_000
#: Each run picks its own torch threads (an OMP_NUM_THREADS of the caller would decide for all).
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}


def write_inputs(folder: Path, count: int, size: str) -> None:
    from napari_darkvision.core.dng import write_dng

    folder.mkdir(parents=True)
    for i in range(count):
        path = folder / f"dark_{i:04d}.dng"
        if i < SCENES:
            write_dng(path, synthetic_raw(SIZES[size], seed=i))
        else:
            shutil.copyfile(folder / f"dark_{i % SCENES:04d}.dng", path)


def timed_batch(inputs: Path, out: Path, *options: str, kill_after: int | None = None) -> dict:
    """Run one batch; with `kill_after`, SIGKILL it once that many outputs exist."""
    started = time.perf_counter()
    process = subprocess.Popen([*CLI, str(inputs), "-o", str(out), "-q", *options], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=CHILD_ENV)  # fmt: skip
    if kill_after is not None:
        while process.poll() is None and len(list(out.glob("*.png")) if out.is_dir() else []) < kill_after:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    printed, errors = process.communicate()
    wall = time.perf_counter() - started
    if kill_after is not None:
        return {"wall_s": round(wall, 2), "outputs_when_killed": len(list(out.glob("*.png")))}
    if process.returncode != 0:
        raise RuntimeError(f"batch failed ({process.returncode}): {printed}\n{errors[-3000:]}")
    summary = json.loads((out / "darkvision-summary.json").read_text())
    stamps = sorted(p.stat().st_mtime for p in out.glob("*.png"))
    done = summary["done"]
    steady = 60 * (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    peaks: dict[str, float] = {}
    for entry in summary["results"]:
        if entry.get("peak_memory_mb"):
            peaks[entry["worker"]] = max(peaks.get(entry["worker"], 0.0), entry["peak_memory_mb"])
    return {
        "wall_s": round(wall, 2),
        "done": done,
        "skipped": summary["skipped"],
        "files_per_min_end_to_end": round(60 * done / wall, 2),
        "files_per_min_steady": round(steady, 2) if steady else None,
        "runner": summary["runner"],
        "torch_threads": sorted({e["torch_threads"] for e in summary["results"] if e["torch_threads"]}),
        "peak_memory_mb_per_worker": peaks,
        "median_file_s": sorted(e["seconds"] for e in summary["results"] if e["status"] == "done")[done // 2]
        if done
        else None,
    }


class Cluster:
    """``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1."""

    def __init__(self, workers: int, folder: Path):
        self.folder, self.workers, self.processes = folder, workers, []

    def __enter__(self) -> str:
        from distributed import Client

        address_file = self.folder / "scheduler.json"
        log = open(self.folder / "cluster.log", "ab")  # left open: the processes write to it
        common = dict(cwd=self.folder, env=CHILD_ENV, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                                "--no-dashboard", "--scheduler-file", address_file], **common))  # fmt: skip
        while not address_file.exists():
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        self.processes.append(subprocess.Popen([DASK, "worker", address, "--host", "127.0.0.1", "--nworkers",
                                                str(self.workers), "--nthreads", "1", "--no-dashboard"], **common))  # fmt: skip
        with Client(address, timeout=30) as client:
            client.wait_for_workers(self.workers, timeout=180)
        return address

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        (self.folder / "scheduler.json").unlink(missing_ok=True)


def measure(files: int, size: str, work: Path, only: list[str]) -> dict:
    inputs = work / "in"
    started = time.perf_counter()
    write_inputs(inputs, files, size)
    results: dict = {"inputs_written_s": round(time.perf_counter() - started, 1)}
    runs = {
        "sequential": lambda out: timed_batch(inputs, out, "--scheduler", "none"),
        "local_default": lambda out: timed_batch(inputs, out),
        "local_2_workers": lambda out: timed_batch(inputs, out, "--workers", "2"),
    }
    for workers in (1, 2):

        def on_cluster(out, workers=workers):
            with Cluster(workers, work) as address:
                return timed_batch(inputs, out, "--scheduler", address)

        runs[f"cluster_{workers}_workers"] = on_cluster
    for name, run in runs.items():
        if name in only:
            print(f"{name} ...", flush=True)
            results[name] = run(work / f"out_{name}")
            print(f"  {results[name]}", flush=True)
            shutil.rmtree(work / f"out_{name}")
    if "resume" in only:
        print("interrupted and resumed ...", flush=True)
        out = work / "out_resume"
        killed = timed_batch(inputs, out, kill_after=files // 2)
        resumed = timed_batch(inputs, out)
        results["resume"] = {"killed": killed, "resumed": resumed}
        if "local_default" in results:
            lost = killed["wall_s"] + resumed["wall_s"] - results["local_default"]["wall_s"]
            results["resume"]["time_lost_s"] = round(lost, 1)
    return results


def extrapolate(results: dict) -> dict:
    """10,000 files at the best steady rate measured here, on one machine and on ten."""
    rates = {
        k: v["files_per_min_steady"]
        for k, v in results.items()
        if isinstance(v, dict) and v.get("files_per_min_steady")
    }
    if not rates:
        return {}
    best = max(rates, key=rates.get)
    one = TARGET_FILES / rates[best] / 60
    return {"best_run": best, "files_per_min": rates[best], "hours_one_machine": round(one, 1),
            "hours_ten_machines": round(one / 10, 2)}  # fmt: skip


def table(results: dict, files: int) -> str:
    names = {"sequential": "sequential loop (`--scheduler none`)", "local_default": "default: local Dask cluster", "local_2_workers": "local Dask cluster, `--workers 2`",
             "cluster_1_workers": "`dask scheduler` + 1 `dask worker`", "cluster_2_workers": "`dask scheduler` + 2 `dask worker`s"}  # fmt: skip
    lines = [f"| {files} × 12 MP | files/min end to end | files/min steady | median s/file | torch threads | peak memory per worker |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for key, label in names.items():
        if key in results:
            r = results[key]
            peaks = ", ".join(f"{mb / 1024:.2f} GB" for mb in r["peak_memory_mb_per_worker"].values())
            lines.append(f"| {label} | {r['files_per_min_end_to_end']:.1f} | {r['files_per_min_steady'] or 0:.1f} | "
                         f"{r['median_file_s']:.2f} | {'/'.join(map(str, r['torch_threads']))} | {peaks} |")  # fmt: skip
    if "cluster_1_workers" in results and "cluster_2_workers" in results:
        one, two = results["cluster_1_workers"], results["cluster_2_workers"]
        scaling = two["files_per_min_steady"] / one["files_per_min_steady"]
        lines.append(f"\nScaling 1 → 2 workers (steady): {scaling:.2f}×.")
    if "resume" in results and "time_lost_s" in results["resume"]:
        r = results["resume"]
        lines.append(f"Killed (SIGKILL) after {r['killed']['outputs_when_killed']} of {files} outputs, then rerun: "
                     f"{r['killed']['wall_s']:.0f} s + {r['resumed']['wall_s']:.0f} s; time lost against one run "
                     f"{r['time_lost_s']:.0f} s ({r['resumed']['skipped']} skipped, {r['resumed']['done']} done).")  # fmt: skip
    if results.get("extrapolation"):
        e = results["extrapolation"]
        lines.append(f"{TARGET_FILES:,} files at {e['files_per_min']:.1f} files/min ({e['best_run']}): "
                     f"{e['hours_one_machine']:.1f} h here; {e['hours_ten_machines']:.2f} h on 10 such machines "
                     "(if the shared storage keeps up).")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--size", choices=list(SIZES), default="12mp")
    parser.add_argument("--only", nargs="+", default=["sequential", "local_default", "cluster_1_workers",
                                                       "cluster_2_workers", "resume"])  # fmt: skip
    parser.add_argument("--name", default=socket.gethostname())
    parser.add_argument("--work", help="folder for the inputs and outputs (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        results = measure(args.files, args.size, Path(work), args.only)
    results["extrapolation"] = extrapolate(results)
    document = {
        "files": args.files,
        "size": args.size,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_end": os.getloadavg(),
        },  # fmt: skip
        "results": results,
        "table": table(results, args.files),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"batch-{args.name}.json"
    target.write_text(json.dumps(document, indent=1) + "\n")
    print(document["table"])
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

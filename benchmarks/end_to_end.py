"""Ours end to end, file -> RGB: the median wall time, each stage's time and the peak memory."""

from __future__ import annotations

from common import (
    RATIO,
    SIZE_LABELS,
    Report,
    gigabytes,
    median,
    median_text,
    seconds_text,
    set_threads,
    timed_enhance,
    timed_runs,
    verdict,
)
from memory import TARGET_MEMORY_GB, current_rss_bytes, peak_rss_bytes

TARGET_E2E_12MP_S = 2.0


def child(spec: dict) -> dict:
    """One file (spec: path, threads, repeats), in a process of its own."""
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
    pack_times = timed_runs(lambda: pack(raw, ratio=RATIO), 3)
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
        "shape": list(raw.shape),
    }


def rows(report: Report, results: dict, default_threads: int) -> None:
    """A row per end-to-end case (results "e2e_<size>_t<threads>"), with its time and memory targets."""
    for key, case in results.items():
        if not key.startswith("e2e_") or "error" in case:
            continue
        size, threads = case["size"], case["threads"]
        memory_limit = TARGET_MEMORY_GB[size]
        goals = [f"≤ {memory_limit:g} GB"]
        memory = case["peak_rss_bytes"] / 1e9
        met = [report.target(f"{size} peak memory, {threads} threads", memory, memory_limit, "GB")]
        if size == "12mp" and threads == default_threads:
            goals.insert(0, f"≤ {TARGET_E2E_12MP_S:g} s")
            met.append(report.target("12mp end to end", case["seconds"], TARGET_E2E_12MP_S, "s"))
        split = ", ".join(f"{name} {seconds_text(seconds)}" for name, seconds in case["stages"].items())
        report.row(
            f"{SIZE_LABELS[size]} end to end, file → RGB ({split})",
            threads,
            median_text(case["seconds"], case["runs"]),
            gigabytes(case["peak_rss_bytes"]),
            ", ".join(goals),
            verdict(all(met) if None not in met else None),
        )

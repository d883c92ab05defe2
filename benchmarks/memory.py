"""Peak memory: what a case's process holds at most, and how it grows from 12 to 61 MP."""

from __future__ import annotations

import sys

import numpy as np
from common import Report, gigabytes, verdict

#: The most a process may hold, by input size.
TARGET_MEMORY_GB = {"12mp": 2.0, "61mp": 3.0}


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process (ru_maxrss; Linux reports KiB, macOS bytes)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int | None:
    """Resident memory of this process now (Linux only)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def growth_row(report: Report, results: dict, default_threads: int) -> None:
    """The growth of peak memory from the 12 MP to the 61 MP end-to-end case, against the output's."""
    small = results.get(f"e2e_12mp_t{default_threads}", {})
    large = results.get(f"e2e_61mp_t{default_threads}", {})
    if "peak_rss_bytes" not in small or "peak_rss_bytes" not in large:
        return
    pixels = [np.prod(case["shape"]) for case in (small, large)]
    output_growth = 6.0 * (pixels[1] - pixels[0])  # (H, W, 3) uint16
    growth = large["peak_rss_bytes"] - small["peak_rss_bytes"]
    factor = growth / output_growth
    met = report.target("peak memory growth 12 -> 61 MP, in units of the output's growth", factor, 1.0, "×")
    report.row(
        "Peak memory growth 12 MP → 61 MP, against the RGB output's growth",
        default_threads,
        "–",
        f"+{gigabytes(growth)} (output +{gigabytes(output_growth)}: {factor:.1f}×)",
        "≤ the output's growth",
        verdict(met),
    )

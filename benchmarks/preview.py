"""The live preview as the Enhance widget makes it: one refresh of a 1 MP view (a 1024 x 1024
region of a 12 MP frame: network, blend, LibRaw render), a change of strength or before/after
(the cached network result re-blended and rendered), and, with ``--gui``, the longest gap in
Qt's event loop while the docked widget's preview follows pans of the canvas.

Run from the repository root: ``.venv/bin/python benchmarks/preview.py [--threads 2] [--gui]``;
writes ``research/benchmarks/preview-<name>.json`` (``--name``, default the host name).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RATIO, RESULTS, SIZES, median, set_threads, synthetic_raw

SIDE = 1024  # a 1 MP view
#: The issue's targets: a refresh of a 1 MP view, and the longest event-loop gap.
TARGET_PREVIEW_S = 0.3
TARGET_GAP_MS = 100.0


def boxes(shape: tuple[int, int], count: int) -> list[tuple[int, int, int, int]]:
    """`count` different 1 MP regions across the frame, on even rows and columns."""
    h, w = shape
    out = []
    for i in range(count):
        top = (i * 997) % (h - SIDE) // 2 * 2
        left = (i * 1409) % (w - SIDE) // 2 * 2
        out.append((top, top + SIDE, left, left + SIDE))
    return out


def refresh_times(repeats: int) -> dict:
    from napari_darkvision.plugin.state import EnhanceRequest
    from napari_darkvision.plugin.worker import Preview, run_preview

    raw = synthetic_raw(SIZES["12mp"])
    request = EnhanceRequest(raw=raw, source_name="benchmark", ratio=RATIO, stretch=False, weights=None)
    regions = boxes(raw.shape, repeats + 1)
    run_preview(request, box=regions[0])  # loads the model, sets oneDNN up for the tile shape
    new_region, reblend, last = [], [], None
    for box in regions[1:]:
        started = time.perf_counter()
        last = run_preview(request, box=box)
        new_region.append(time.perf_counter() - started)
        if not isinstance(last, Preview):
            raise RuntimeError(f"the preview failed: {last}")
    for strength in [0.0, 0.5] * (repeats // 2 + 1):
        started = time.perf_counter()
        run_preview(dataclasses.replace(request, strength=strength), box=last.box, cached=last)
        reblend.append(time.perf_counter() - started)
    return {
        "new_region": {"seconds": median(new_region), "runs": new_region},
        "reblend": {"seconds": median(reblend), "runs": reblend},
        "shape": list(last.result.image.shape),
    }


def gui_gap(pans: int) -> dict:
    """The longest gap between ticks of a 10 ms QTimer while the canvas pans `pans` times: first
    with the preview off (napari drawing the raw layer alone: the reference), then with the
    preview following each pan; the difference is what the preview costs the viewer."""
    import napari
    import numpy as np
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_darkvision.plugin.widget import EnhanceWidget

    raw = synthetic_raw(SIZES["12mp"])
    viewer = napari.Viewer(show=True)
    viewer.add_image(raw.mosaic, name="raw", metadata=raw.metadata())
    widget = EnhanceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Enhance")
    widget.ratio_preset.value = "x100"
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom = 1.0

    def settle(minimum_s: float = 0.0) -> float:
        started = time.perf_counter()
        while True:
            loop = QEventLoop()
            QTimer.singleShot(20, loop.quit)
            loop.exec()
            elapsed = time.perf_counter() - started
            if not widget.preview_busy and elapsed >= minimum_s:
                return elapsed

    def panning(seed: int, minimum_s: float = 0.0) -> tuple[float, list[float]]:
        """(longest event-loop gap in ms, seconds until each pan settled)."""
        ticks: list[float] = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(10)
        started, refreshes = time.perf_counter(), []
        rng = np.random.default_rng(seed)
        for _ in range(pans):
            camera.center = (float(rng.uniform(600, 2200)), float(rng.uniform(600, 3600)))
            refreshes.append(settle(minimum_s))
        timer.stop()
        edges = [started, *ticks, time.perf_counter()]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False)) * 1000, refreshes

    settle(1.0)  # the first draws of the raw layer
    reference_ms, _ = panning(seed=1, minimum_s=0.5)
    widget.preview.value = True
    settle()  # the model is loaded
    gap_ms, refreshes = panning(seed=0)
    viewer.close()
    return {
        "longest_gap_ms": gap_ms,
        "reference_gap_ms_without_preview": reference_ms,
        "added_by_preview_ms": gap_ms - reference_ms,
        "pans": pans,
        "pan_to_preview_seconds": refreshes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument(
        "--gui", action="store_true", help="also the event-loop gap in napari (needs a display)"
    )
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args()
    set_threads(args.threads)
    import torch

    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "logical_cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg())},
        "target_seconds": TARGET_PREVIEW_S,
        "preview": refresh_times(args.repeats),
    }  # fmt: skip
    if args.gui:
        results["gui"] = gui_gap(args.repeats)
        results["gui"]["target_ms"] = TARGET_GAP_MS
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"preview-{args.name}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    preview = results["preview"]
    print(f"1 MP view, new region: {preview['new_region']['seconds']:.3f} s (target {TARGET_PREVIEW_S} s); "
          f"strength re-blend: {preview['reblend']['seconds']:.3f} s")  # fmt: skip
    if "gui" in results:
        gui = results["gui"]
        print(f"longest event-loop gap while the preview followed {args.repeats} pans: "
              f"{gui['longest_gap_ms']:.0f} ms (target {TARGET_GAP_MS:g} ms); the same pans without "
              f"the preview: {gui['reference_gap_ms_without_preview']:.0f} ms")  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

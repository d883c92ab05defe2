"""Is the widget responsive: the 1 MP live preview's time, and the longest gap in Qt's event loop
while the Enhance widget enhances a 12 MP file."""

from __future__ import annotations

import dataclasses
import os
import time

import common
from common import NONE, Report

GAP_TIMER_MS = 10
TARGET_PREVIEW_S = 0.3
TARGET_GAP_MS = 100.0


def child_preview(spec: dict) -> dict:
    """A 1 MP region (512 x 512 packed) at ratio 100: pack, network, quick_render; then the
    widget's own preview, where it has one (spec: path, threads, repeats)."""
    common.set_threads(spec["threads"])
    import torch

    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.core.render import quick_render

    raw = read_raw(spec["path"])
    h, w = raw.shape
    top, left = (h // 2 - 512) // 2 * 2, (w // 2 - 512) // 2 * 2  # even: keeps the CFA phase
    region = dataclasses.replace(raw, mosaic=raw.mosaic[top : top + 1024, left : left + 1024])
    model = cached_model()

    def preview():
        clean = common.network(model, pack(region, ratio=common.RATIO), "auto")
        return quick_render(clean, region.camera_wb, region.rgb_from_camera)

    image = preview()
    times = common.timed_runs(preview, spec["repeats"])
    result = {"seconds": common.median(times), "runs": times, "shape": list(image.shape)}
    result["torch_threads"] = torch.get_num_threads()
    try:  # what the widget's live preview does (LibRaw render of the region), if it has one
        from napari_darkvision.plugin.state import EnhanceRequest
        from napari_darkvision.plugin.worker import run_preview
    except ImportError:
        return result
    request = EnhanceRequest(
        raw=raw, source_name="benchmark", ratio=common.RATIO, stretch=False, weights=None
    )
    run_preview(request)
    widget_times = common.timed_runs(lambda: run_preview(request), spec["repeats"])
    result["widget_preview"] = {"seconds": common.median(widget_times), "runs": widget_times}
    return result


def wait(seconds: float) -> None:
    """Run Qt's event loop for `seconds`."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def longest_gap_ms(ticks: list[float], start: float, end: float) -> float:
    """The longest time between `start`, the ticks between, and `end`."""
    inside = [t for t in ticks if start <= t <= end]
    edges = [start, *inside, end]
    return max(b - a for a, b in zip(edges, edges[1:], strict=False)) * 1000


def click_and_wait(widget, ticks: list[float], label: str) -> dict:
    """One click of Enhance, the run to its end and a second after: its times and gaps."""
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_darkvision.core.progress import Stage

    ticks.clear()
    marks: dict[str, float] = {}
    loop = QEventLoop()
    started = time.perf_counter()
    widget.enhance_button.clicked.emit()  # as a click does
    clicked = time.perf_counter()
    worker = widget.worker
    if worker is None:
        raise RuntimeError("the Enhance button started no worker")

    def on_yielded(step):
        if step.stage == Stage.DONE:
            marks["done"] = time.perf_counter()

    worker.yielded.connect(on_yielded)
    worker.finished.connect(lambda: marks.setdefault("finished", time.perf_counter()))
    worker.finished.connect(lambda: QTimer.singleShot(1000, loop.quit))
    loop.exec()
    ended = time.perf_counter()
    done = marks.get("done", marks.get("finished", ended))
    return {
        "label": label,
        "seconds": done - started,
        "click_ms": (clicked - started) * 1000,
        "worker_gap_ms": longest_gap_ms(ticks, clicked, done),
        "handoff_gap_ms": longest_gap_ms(ticks, done, ended),
        "result_layer": widget.last_result_layer is not None,
    }


def child_gui(spec: dict) -> dict:
    """Longest gap between ticks of a 10 ms QTimer while the Enhance widget enhances the file."""
    import napari
    from qtpy.QtCore import QTimer

    from napari_darkvision.plugin.widget import EnhanceWidget

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
    wait(1.0)  # the window is shown and painted
    runs = []
    for label in ("first run (imports torch, loads the weights)", "later run"):
        runs.append(click_and_wait(widget, ticks, label))
        widget.last_result_layer = None
    timer.stop()
    viewer.close()
    return {"runs": runs, "timer_ms": GAP_TIMER_MS, "qt_platform": os.environ.get("QT_QPA_PLATFORM", "")}


def rows(report: Report, results: dict, default_threads: int) -> None:
    """The preview's rows and the event-loop gaps' rows, for the cases that ran."""
    preview = results.get("preview", {})
    if preview and "error" not in preview:
        met = report.target("1 MP preview", preview["seconds"], TARGET_PREVIEW_S, "s")
        report.row(
            "1 MP preview (512 × 512 packed: network + quick_render)",
            preview["torch_threads"],
            common.median_text(preview["seconds"], preview["runs"]),
            NONE,
            f"≤ {TARGET_PREVIEW_S:g} s",
            common.verdict(met),
        )
        widget = preview.get("widget_preview")
        if widget:
            report.row(
                "1 MP preview as the widget makes it (network + LibRaw render of the region)",
                preview["torch_threads"],
                common.median_text(widget["seconds"], widget["runs"]),
            )
    gui = results.get("gui", {})
    if gui and "error" not in gui:
        for run in gui["runs"]:
            label = run["label"]
            met = report.target(f"longest event-loop gap, {label}", run["worker_gap_ms"], TARGET_GAP_MS, "ms")
            report.row(
                f"Longest Qt event-loop gap while the widget enhances 12 MP, {label}",
                default_threads,
                f"{run['worker_gap_ms']:.0f} ms (run {common.seconds_text(run['seconds'])})",
                NONE,
                f"≤ {TARGET_GAP_MS:g} ms",
                common.verdict(met),
            )
            report.row(
                "… then while the widget adds the 12 MP result layer",
                default_threads,
                f"{run['handoff_gap_ms']:.0f} ms",
            )

"""Make the documentation images from a real napari session.

- ``docs/images/napari_screenshot.png``: the napari window with the dark sample opened by the
  napari-darkvision reader, the Enhance widget docked, and the raw mosaic and the x100 result
  side by side (grid mode).
- ``docs/images/before_after.png``: plain x100 scaling of the sample rendered with LibRaw (left)
  against the network's result (right), downscaled to stay small.

Run from the repository root: ``xvfb-run -a python scripts/screenshot.py`` (without a display it
restarts itself under ``xvfb-run``).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from napari_darkvision._display import has_display
from napari_darkvision.core.bundled import SAMPLE

ROOT = Path(__file__).resolve().parent.parent
RATIO = 100.0
MAX_PNG_BYTES = 600_000


def wait_for(condition, app, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the enhancement did not finish in time")
        app.processEvents()
        time.sleep(0.02)


def window_screenshot(path: Path, width: int, height: int) -> tuple[np.ndarray, object]:
    """Open napari, enhance the sample through the docked widget, and grab the whole window."""
    import napari
    from napari.qt import get_qapp

    app = get_qapp()
    viewer = napari.Viewer(title="napari-darkvision", show=True)
    viewer.window.resize(width, height)
    (raw_layer,) = viewer.open(SAMPLE, plugin="napari-darkvision")
    _, widget = viewer.window.add_plugin_dock_widget("napari-darkvision", "Enhance")
    widget.ratio_preset.value = "x100"
    widget.enhance_button.clicked.emit()
    wait_for(lambda: widget.worker is None, app, timeout=600)
    result = widget.last_result_layer
    if result is None:
        raise RuntimeError("enhancing the sample failed: see the napari notifications")
    grid = viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid  # moved in napari 0.9
    grid.enabled = True
    grid.shape = (1, 2)
    viewer.reset_view()
    for _ in range(20):  # let vispy draw both canvases before grabbing
        app.processEvents()
        time.sleep(0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): {raw_layer.name} and {result.name}")
    image = np.asarray(result.data).copy()
    viewer.close()
    return image, result.metadata


def before_after(result: np.ndarray, path: Path, max_width: int = 1400) -> None:
    """Left: plain x100 scaling rendered by LibRaw; right: the network's result; both labelled."""
    from PIL import Image, ImageDraw

    from napari_darkvision.core.raw import pack, read_raw, unpack
    from napari_darkvision.core.render import render

    raw = read_raw(SAMPLE)
    plain = render(raw, unpack(pack(raw, ratio=RATIO), raw), sensor_orientation=True)
    halves = [Image.fromarray((np.asarray(image) >> 8).astype(np.uint8)) for image in (plain, result)]
    labels = (f"plain x{RATIO:g} scaling (LibRaw)", f"napari-darkvision x{RATIO:g}")
    width = max_width
    while True:
        side = width // 2 - 4
        size = (side, round(side * halves[0].height / halves[0].width))
        canvas = Image.new("RGB", (2 * size[0] + 8, size[1]), "white")
        for i, (half, label) in enumerate(zip(halves, labels, strict=True)):
            x = i * (size[0] + 8)
            canvas.paste(half.resize(size, Image.Resampling.LANCZOS), (x, 0))
            draw = ImageDraw.Draw(canvas)
            box = draw.textbbox((x + 10, 8), label)
            draw.rectangle((box[0] - 5, box[1] - 4, box[2] + 5, box[3] + 4), fill="black")
            draw.text((x + 10, 8), label, fill="white")
        # sensor noise barely compresses: a 256-colour palette (dithered) halves the file, and
        # keeps the image large enough that downscaling does not average the noise away
        for candidate in (canvas, canvas.quantize(256)):
            buffer = io.BytesIO()
            candidate.save(buffer, format="PNG", optimize=True)
            if buffer.tell() <= MAX_PNG_BYTES:
                break
        if buffer.tell() <= MAX_PNG_BYTES or width <= 400:
            break
        width = int(width * 0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB, {canvas.width}x{canvas.height})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--size", default="1600x820", help="napari window size, WIDTHxHEIGHT")
    args = parser.parse_args()
    if not has_display():
        xvfb = shutil.which("xvfb-run")
        if not xvfb:
            sys.exit("no display: install Xvfb or run on a desktop")
        # napari cannot draw image layers on Qt's offscreen platform, so it needs a real X server
        sys.exit(subprocess.call([xvfb, "-a", "-s", "-screen 0 1920x1080x24", sys.executable, *sys.argv]))
    out = Path(args.out)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result, metadata = window_screenshot(out / "napari_screenshot.png", width, height)
    model = f"{metadata['model']} v{metadata['model_version']}"
    print(f"model {model} on {metadata['device']}: {metadata['seconds']} s")
    before_after(result, out / "before_after.png")


if __name__ == "__main__":
    main()

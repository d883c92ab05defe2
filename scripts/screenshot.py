"""Make the documentation images from a real napari session.

- ``docs/images/napari_screenshot.png``: the napari window with the dark sample opened by the
  napari-darkvision reader (the mosaic as shown on opening), the Enhance widget docked with
  *auto* and its choice, and the live preview of the middle of the view over the raw.
- ``docs/images/napari_before_after.png``: the canvas zoomed in on the same place with the
  widget's *Show before* ticked (the amplified input) and unticked (the result), side by side.
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

from napari_darkvision.core.bundled import SAMPLE
from napari_darkvision.plugin.display import has_display

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


def settle(app, seconds: float = 1.0) -> None:
    """Let vispy draw before grabbing."""
    for _ in range(int(seconds / 0.05)):
        app.processEvents()
        time.sleep(0.05)


def window_screenshot(path: Path, compare_path: Path, width: int, height: int) -> tuple[np.ndarray, dict]:
    """Open napari with the docked widget: the live preview over the raw, then before/after at
    1:1, then the full x100 result (returned for before_after.png)."""
    import napari
    from napari.qt import get_qapp

    app = get_qapp()
    viewer = napari.Viewer(title="napari-darkvision", show=True)
    viewer.window.resize(width, height)
    (raw_layer,) = viewer.open(SAMPLE, plugin="napari-darkvision")
    _, widget = viewer.window.add_plugin_dock_widget("napari-darkvision", "Enhance")
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    viewer.reset_view()
    widget.preview.value = True
    wait_for(lambda: not widget.preview_busy, app, timeout=600)
    settle(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    window = viewer.screenshot(canvas_only=False, flash=False)
    save_small(Image.fromarray(np.asarray(window)[..., :3]), path)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): {raw_layer.name}, {widget.status.value}")
    halves = []
    camera.center, camera.zoom = (520, 700), 0.9
    for before in (True, False):
        widget.compare.value = before
        wait_for(lambda: not widget.preview_busy, app, timeout=600)
        settle(app)
        halves.append(viewer.screenshot(canvas_only=True, flash=False))
    side_by_side(
        halves,
        ("before: amplified input (Show before ticked)", "after: napari-darkvision (same place)"),
        compare_path,
    )
    widget.preview.value = False
    widget.ratio_preset.value = "x100"
    widget.enhance_button.clicked.emit()
    wait_for(lambda: widget.worker is None, app, timeout=600)
    result = widget.last_result_layer
    if result is None:
        raise RuntimeError("enhancing the sample failed: see the napari notifications")
    image, metadata = np.asarray(result.data).copy(), dict(result.metadata)
    viewer.close()
    return image, metadata


def save_small(image, path: Path) -> None:
    """PNG, as a 256-colour palette (dithered) when the full colours pass MAX_PNG_BYTES."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_PNG_BYTES:
        buffer = io.BytesIO()
        image.quantize(256).save(buffer, format="PNG", optimize=True)
    path.write_bytes(buffer.getvalue())


def side_by_side(images: list[np.ndarray], labels: tuple[str, str], path: Path) -> None:
    """Two canvas grabs (RGBA) next to each other, labelled."""
    from PIL import Image, ImageDraw

    halves = [Image.fromarray(np.asarray(image)[..., :3]) for image in images]
    canvas = Image.new("RGB", (sum(h.width for h in halves) + 8, max(h.height for h in halves)), "white")
    x = 0
    for half, label in zip(halves, labels, strict=True):
        canvas.paste(half, (x, 0))
        draw = ImageDraw.Draw(canvas)
        box = draw.textbbox((x + 10, 8), label)
        draw.rectangle((box[0] - 5, box[1] - 4, box[2] + 5, box[3] + 4), fill="black")
        draw.text((x + 10, 8), label, fill="white")
        x += half.width + 8
    save_small(canvas, path)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB, {canvas.width}x{canvas.height})")


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
    result, metadata = window_screenshot(
        out / "napari_screenshot.png", out / "napari_before_after.png", width, height
    )
    model = f"{metadata['model']} v{metadata['model_version']}"
    print(f"model {model} on {metadata['device']}: {metadata['seconds']} s")
    before_after(result, out / "before_after.png")


if __name__ == "__main__":
    main()

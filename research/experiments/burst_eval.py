"""Held-out synthetic bursts through the command line: frame 0 alone against 4 and 8 frames.

Each clean raw of ../shared/raw (a centred crop) becomes 8 dark frames: handheld shake (up to
16 sensor pixels, sub-pixel, up to 0.3 degrees of rotation), an object walking across (a piece of
the scene, turned and brightened), each frame with its own ELD noise (SonyA7S2, gain drawn as in
training) at 1/ratio of the exposure. ``napari-darkvision enhance`` writes DNGs of frame 0 alone
and of the bursts; they and the clean frame 0 are rendered with LibRaw alike
(``adjust_maximum_thr=0``, the sRGB curve) and compared in sRGB PSNR, over the whole image and
inside the object's path (every place it passes in the 8 frames).

    PYTHONPATH=src python research/experiments/burst_eval.py [--crop 1200x1800] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_darkvision.core.render import LIBRAW_OPTIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared"
SCENES = ("HERO7_GOPR9231.DNG", "IMG_5952.CR2", "Blackmagic.dng")
RATIOS = (100, 300)
FRAMES = (4, 8)
#: The product's one rendering (core/render.py), in the sensor's orientation.
LIBRAW = {**LIBRAW_OPTIONS, "user_flip": 0}


def render_dng(path: Path) -> np.ndarray:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(**LIBRAW).astype(np.float32) / 65535.0


def psnr(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    error = (image - reference) ** 2
    if mask is not None:
        error = error[mask]
    return float(10 * np.log10(1.0 / max(float(error.mean()), 1e-12)))


def crop(raw, height: int, width: int):
    h, w = raw.shape
    top, left = (h - height) // 4 * 2, (w - width) // 4 * 2
    return dataclasses.replace(
        raw, mosaic=raw.mosaic[top : top + height, left : left + width].copy(), path=""
    )


def cli(*args: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "napari_darkvision.cli", "enhance", "-q", "--overwrite", *args]
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crop", default="1200x1800", help="sensor pixels of each scene's centre")
    parser.add_argument("--out", default=str(HERE / "burst_eval"))
    parser.add_argument("--scenes", nargs="*", default=list(SCENES))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from napari_darkvision.core.dng import write_dng
    from napari_darkvision.core.raw import read_raw
    from napari_darkvision.training.bursts import synthetic_burst
    from napari_darkvision.training.synth import NoiseModel

    height, width = (int(v) for v in args.crop.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = NoiseModel.from_files(str(SHARED / "noise" / "eld_camera_params.json"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="burst-eval-") as folder:
        work = Path(folder)
        for index, scene in enumerate(args.scenes):
            clean = crop(read_raw(SHARED / "raw" / scene), height, width)
            for ratio in RATIOS:
                rng = np.random.default_rng([index, ratio])
                noise = model.eld_params("SonyA7S2", rng)
                burst = synthetic_burst(clean, max(FRAMES), ratio, noise, rng)
                stem = f"{Path(scene).stem}_x{ratio}"
                paths = []
                for k, frame in enumerate(burst.frames):
                    paths.append(work / f"{stem}_f{k}.dng")
                    write_dng(paths[-1], frame)
                write_dng(work / f"{stem}_truth.dng", burst.truth)
                reference = render_dng(work / f"{stem}_truth.dng")
                path_mask = np.repeat(np.repeat(burst.path, 2, axis=0), 2, axis=1)[
                    : reference.shape[0], : reference.shape[1]
                ]
                results = {}
                single = work / f"{stem}_1.dng"
                seconds = {1: cli(str(paths[0]), "-o", str(single), "--ratio", str(ratio))}
                images = {1: render_dng(single)}
                for count in FRAMES:
                    target = work / f"{stem}_{count}.dng"
                    seconds[count] = cli(
                        "--burst", *map(str, paths[:count]), "-o", str(target), "--ratio", str(ratio)
                    )
                    images[count] = render_dng(target)
                for count, image in images.items():
                    results[count] = (psnr(image, reference), psnr(image, reference, path_mask))
                row = {
                    "scene": scene,
                    "ratio": ratio,
                    "gain_K": round(noise.K, 3),
                    "frame0_psnr": round(results[1][0], 2),
                    "frame0_path_psnr": round(results[1][1], 2),
                    "seconds": {str(k): round(v, 1) for k, v in seconds.items()},
                }
                for count in FRAMES:
                    row[f"burst{count}_psnr"] = round(results[count][0], 2)
                    row[f"burst{count}_path_psnr"] = round(results[count][1], 2)
                    row[f"gain{count}"] = round(results[count][0] - results[1][0], 2)
                    row[f"path_gain{count}"] = round(results[count][1] - results[1][1], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if index == 0 and ratio == RATIOS[0]:
                    _picture(
                        images[1],
                        images[max(FRAMES)],
                        reference,
                        ROOT / "docs" / "images" / "burst_before_after.png",
                    )
    summary = {
        "crop": args.crop,
        "frames": max(FRAMES),
        "libraw": {k: list(v) if isinstance(v, tuple) else v for k, v in LIBRAW.items()},
        "rows": rows,
        "mean": {
            f"{key}_x{ratio}": round(float(np.mean([r[key] for r in rows if r["ratio"] == ratio])), 2)
            for ratio in RATIOS
            for key in ("gain4", "gain8", "path_gain4", "path_gain8")
        },
    }
    (out / "burst_eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "burst_eval.md").write_text(_table(summary))
    print(_table(summary))


def _table(summary: dict) -> str:
    lines = [
        "| scene | ratio | frame 0 | 4 frames | 8 frames | path: frame 0 | path: 4 | path: 8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['scene']} | x{r['ratio']} | {r['frame0_psnr']:.2f} | {r['burst4_psnr']:.2f} ({r['gain4']:+.2f}) "
            f"| {r['burst8_psnr']:.2f} ({r['gain8']:+.2f}) | {r['frame0_path_psnr']:.2f} "
            f"| {r['burst4_path_psnr']:.2f} ({r['path_gain4']:+.2f}) | {r['burst8_path_psnr']:.2f} ({r['path_gain8']:+.2f}) |"
        )
    mean = summary["mean"]
    for ratio in RATIOS:
        lines.append(
            f"| mean | x{ratio} | | {mean[f'gain4_x{ratio}']:+.2f} | {mean[f'gain8_x{ratio}']:+.2f} | "
            f"| {mean[f'path_gain4_x{ratio}']:+.2f} | {mean[f'path_gain8_x{ratio}']:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def _picture(single: np.ndarray, burst: np.ndarray, reference: np.ndarray, path: Path) -> None:
    """Frame 0 alone | the 8-frame burst | the clean frame 0, side by side, labelled."""
    from PIL import Image, ImageDraw

    panels = []
    for image, label in ((single, "frame 0 alone"), (burst, "8-frame burst"), (reference, "clean reference")):
        panel = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
        panel.thumbnail((640, 640))
        ImageDraw.Draw(panel).text((8, 8), label, fill=(255, 255, 0))
        panels.append(panel)
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height))
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width + 8
    canvas.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)  # a third of the size


if __name__ == "__main__":
    main()

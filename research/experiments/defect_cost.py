"""What each sensor defect costs: the photo validation pairs with one defect at a time (hot and
stuck pixels, column banding, a 12-bit converter) against the same pairs, same noise, without.

    python research/experiments/defect_cost.py ../shared [--photos 6] [--crop 256]
        [--model "release 5=" --model "v6=runs/v6-fast-rep/best.safetensors"] [--no-bm3d]

Writes defect_cost.json and defect_cost.md beside this script: per defect and ratio, the mean
sRGB PSNR of each method, its cost against the pairs without the defect, and around hot pixels
the area (packed pixels per hot pixel) where the rendered error grew by more than 0.1: a hot
pixel turned into a coloured blob shows there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from napari_darkvision.core.hot_pixels import replace_hot_pixels
from napari_darkvision.core.model import estimate_noise, load_model
from napari_darkvision.core.progress import run_to_end
from napari_darkvision.core.render import quick_render
from napari_darkvision.core.tiling import run_tiled
from napari_darkvision.training.datasets import list_photos, load_photo, split_photos
from napari_darkvision.training.defects import DEFECTS, SensorDefects, add_defects
from napari_darkvision.training.evaluate import bm3d_denoise
from napari_darkvision.training.metrics import psnr
from napari_darkvision.training.synth import NoiseModel, amplify, random_look, short_exposure, unprocess
from napari_darkvision.training.train import default_noise_file

RATIOS = (100, 250, 300)
HERE = Path(__file__).resolve().parent


def scenes(shared: Path, count: int, crop: int):
    """Centre crops of the first `count` validation photos, unprocessed to raw, with their look."""
    _, val_paths = split_photos(list_photos(shared / "photos"))
    for i, path in enumerate(val_paths[:count]):
        image = load_photo(path)
        h, w = image.shape[:2]
        c = min(crop, h // 2 * 2, w // 2 * 2)
        rgb = image[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c].astype(np.float32) / 255
        look = random_look(np.random.default_rng([4321, i]))
        yield path.stem, unprocess(rgb, look), look


def noisy_variants(clean, look, noise_model, ratio, seed):
    """The amplified input without a defect and with each one, from one noise realisation."""
    noise = noise_model.eld_params("SonyA7S2", np.random.default_rng([seed, 0]))
    short = short_exposure(clean, ratio, noise, np.random.default_rng([seed, 1]))
    variants = {"none": amplify(short, ratio)}
    for name in DEFECTS:
        damaged = add_defects(short, noise, SensorDefects.only(name), np.random.default_rng([seed, 2]))
        variants[name] = amplify(damaged, ratio)
    return noise, variants


def hot_blob_area(est, est_clean_run, clean, look, hot_mask) -> float:
    """Packed pixels per hot pixel where the rendered error grew by > 0.1 over the defect-free run."""
    ref = quick_render(clean, look.wb, look.rgb_from_camera)
    err = np.abs(quick_render(est, look.wb, look.rgb_from_camera) - ref).max(axis=-1)
    base = np.abs(quick_render(est_clean_run, look.wb, look.rgb_from_camera) - ref).max(axis=-1)
    hot = int(hot_mask.any(axis=0).sum())
    return float(((err - base) > 0.1).sum() / max(hot, 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", type=Path)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--model", action="append", help="NAME=weights (empty: the shipped model)")
    parser.add_argument("--no-bm3d", action="store_true")
    args = parser.parse_args()
    noise_model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    models = {}
    for spec in args.model or ["release 5="]:
        name, _, weights = spec.partition("=")
        models[name] = load_model(weights or None, "cpu")
    rows, started = [], time.perf_counter()
    for index, (stem, clean, look) in enumerate(scenes(args.shared, args.photos, args.crop)):
        ref = quick_render(clean, look.wb, look.rgb_from_camera)
        for ratio in RATIOS:
            noise, variants = noisy_variants(clean, look, noise_model, ratio, seed=index * 1000 + ratio)
            outputs = {}
            for variant, noisy in variants.items():
                methods = {name: run_to_end(run_tiled(model, noisy)) for name, model in models.items()}
                # as enhance() runs it: hot pixels replaced first, at the whole image's noise level
                first = next(iter(models.values()))
                level = tuple(float(v[0]) for v in estimate_noise(torch.from_numpy(noisy)[None]))
                filtered, _ = replace_hot_pixels(noisy, level)
                methods[f"{next(iter(models))} + hot-pixel filter"] = run_to_end(run_tiled(first, filtered))
                if not args.no_bm3d:
                    methods["BM3D"] = bm3d_denoise(noisy, ratio, noise)
                for method, est in methods.items():
                    outputs[variant, method] = est
                    row = {"image": stem, "ratio": ratio, "defect": variant, "method": method,
                           "psnr_srgb": psnr(quick_render(est, look.wb, look.rgb_from_camera), ref)}  # fmt: skip
                    if variant == "hot":
                        mask = variants["hot"] > variants["none"] + 0.02
                        row["hot_blob_px"] = hot_blob_area(est, outputs["none", method], clean, look, mask)
                    rows.append(row)
        print(f"{stem}: {time.perf_counter() - started:.0f} s", flush=True)
    summary = summarise(rows)
    (HERE / "defect_cost.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    (HERE / "defect_cost.md").write_text(markdown(summary, args))
    print(markdown(summary, args))


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted(
        {(r["defect"], r["ratio"], r["method"]) for r in rows},
        key=lambda k: (("none", *DEFECTS).index(k[0]), k[1], k[2]),
    )
    for defect, ratio, method in keys:
        pick = [r for r in rows if (r["defect"], r["ratio"], r["method"]) == (defect, ratio, method)]
        base = [r for r in rows if (r["defect"], r["ratio"], r["method"]) == ("none", ratio, method)]
        entry = {"defect": defect, "ratio": ratio, "method": method,
                 "psnr_srgb": float(np.mean([r["psnr_srgb"] for r in pick])),
                 "cost_db": float(np.mean([b["psnr_srgb"] - r["psnr_srgb"] for r, b in zip(pick, base, strict=True)]))}  # fmt: skip
        if defect == "hot":
            entry["hot_blob_px"] = float(np.mean([r["hot_blob_px"] for r in pick]))
        out.append(entry)
    return out


def markdown(summary: list[dict], args) -> str:
    lines = [f"Defect cost, {args.photos} validation photos ({args.crop} px crops), Sony A7S II noise, "
             "one defect at a time (`python research/experiments/defect_cost.py ../shared`).", "",
             "| defect | ratio | method | sRGB PSNR (dB) | cost (dB) | blob px per hot pixel |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for e in summary:
        blob = f"{e['hot_blob_px']:.2f}" if "hot_blob_px" in e else ""
        lines.append(
            f"| {e['defect']} | x{e['ratio']} | {e['method']} | {e['psnr_srgb']:.2f} | {e['cost_db']:+.2f} | {blob} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

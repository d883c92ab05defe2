"""LibRaw's demosaics for speed (12 MP) and quality (the validation pairs), rendered the
true-to-the-scene way (issue 21: the metadata's white level, the sRGB curve).

    python benchmarks/demosaic.py [--photos N] [--name NAME]

Quality: on the validation pairs of ``evaluate`` (the held-out photos, unprocessed to raw, and
crops of the shared real raws, darkened x100 / x250 / x300 with ELD's Sony A7S II noise), the
shipped network's result is rendered with each demosaic and compared (sRGB PSNR, 8-bit scale)
with the clean reference rendered (a) with AHD, the default, and (b) with the same demosaic.
(a) is what a demosaic costs against the render the evaluation uses; (b) what the network's error
looks like through it. Speed: LibRaw's postprocess of a 12 MP frame (the shared GoPro raw).

Writes ``research/benchmarks/demosaic-<name>.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save_report

from napari_darkvision.core.render import LIBRAW_OPTIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
ALGORITHMS = ("AHD", "AAHD", "DCB", "DHT", "PPG", "VNG", "LINEAR")
#: The product's one rendering (results and references alike).
OPTIONS = LIBRAW_OPTIONS


def render_packed(packed: np.ndarray, look, folder: str) -> dict[str, np.ndarray]:
    """A (4, h, w) packed image in [0, 1] rendered by LibRaw with each demosaic."""
    import rawpy

    from napari_darkvision.core.dng import write_dng
    from napari_darkvision.core.raw import RawImage, mosaic_from_packed
    from napari_darkvision.training.synth import ELD_BLACK, ELD_WHITE

    levels = np.rint(np.clip(packed, 0.0, 1.0) * (ELD_WHITE - ELD_BLACK) + ELD_BLACK).astype(np.uint16)
    raw = RawImage(
        mosaic=mosaic_from_packed(levels, "RGGB"),
        cfa="RGGB",
        black_level=(ELD_BLACK,) * 4,
        white_level=ELD_WHITE,
        camera_wb=tuple(float(v) for v in look.wb),
        rgb_from_camera=np.asarray(look.rgb_from_camera),
    )
    path = os.path.join(folder, "pair.dng")
    write_dng(path, raw)
    images = {}
    for name in ALGORITHMS:
        with rawpy.imread(path) as handle:
            images[name] = handle.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm[name], **OPTIONS)
    return images


def psnr8(a: np.ndarray, b: np.ndarray, border: int = 4) -> float:
    """sRGB PSNR on the 8-bit scale of two uint16 images, their borders (where demosaics guess) cut."""
    a = a[border:-border, border:-border].astype(np.float64) / 257.0
    b = b[border:-border, border:-border].astype(np.float64) / 257.0
    return float(10 * np.log10(255.0**2 / max(np.mean((a - b) ** 2), 1e-12)))


def quality(photos: int, folder: str) -> list[dict]:
    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled
    from napari_darkvision.training.datasets import (
        list_photos,
        photo_validation,
        raw_validation,
        split_photos,
    )
    from napari_darkvision.training.synth import NoiseModel

    noise_model = NoiseModel.from_files(str(SHARED / "noise" / "eld_camera_params.json"))
    _, val = split_photos(list_photos(SHARED / "photos"))
    sets = {"photos": photo_validation(val[:photos], noise_model, crop=384)}
    raws = [SHARED / "raw" / n for n in ("colorchart.dng", "HERO7_GOPR9231.DNG", "IMG_5952.CR2")]
    sets["real raws"] = raw_validation([p for p in raws if p.is_file()], noise_model, crop=512)
    model = cached_model()
    rows = []
    for set_name, items in sets.items():
        for item in items:
            pair = item.pair
            print(f"{set_name}: {item.name}", file=sys.stderr, flush=True)
            result = run_to_end(run_tiled(model, pair.noisy, precision="float32"))
            shown = render_packed(result, pair.look, folder)
            reference = render_packed(pair.clean, pair.look, folder)
            for name in ALGORITHMS:
                rows.append(
                    {
                        "set": set_name,
                        "image": item.name,
                        "ratio": pair.ratio,
                        "demosaic": name,
                        "psnr_vs_ahd_reference": psnr8(shown[name], reference["AHD"]),
                        "psnr_vs_same_demosaic_reference": psnr8(shown[name], reference[name]),
                        "reference_psnr_vs_ahd": psnr8(reference[name], reference["AHD"]),
                    }
                )
    return rows


def speed(repeats: int) -> dict[str, float]:
    """Median seconds of LibRaw's postprocess of the 12 MP GoPro frame, per demosaic."""
    import rawpy

    source = SHARED / "raw" / "HERO7_GOPR9231.DNG"
    times = {name: [] for name in ALGORITHMS}
    for _ in range(repeats):
        for name in ALGORITHMS:  # interleaved: a busy machine slows all alike
            with rawpy.imread(str(source)) as handle:
                started = time.perf_counter()
                handle.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm[name], **OPTIONS)
                times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def summarise(rows: list[dict], seconds: dict[str, float]) -> tuple[dict, str]:
    summary = {}
    lines = [
        "| Demosaic | 12 MP render | vs AHD | sRGB PSNR vs AHD reference: photos ×100 / ×250 / ×300 | "
        "real raws ×100 / ×250 / ×300 | vs the same demosaic's reference: photos | real raws |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ALGORITHMS:
        entry = {"seconds_12mp": seconds[name]}
        cells = []
        for set_name in ("photos", "real raws"):
            per_ratio = []
            for ratio in (100.0, 250.0, 300.0):
                chosen = [
                    r for r in rows if r["demosaic"] == name and r["set"] == set_name and r["ratio"] == ratio
                ]
                per_ratio.append(
                    float(np.mean([r["psnr_vs_ahd_reference"] for r in chosen])) if chosen else None
                )
            same = [
                r["psnr_vs_same_demosaic_reference"]
                for r in rows
                if r["demosaic"] == name and r["set"] == set_name
            ]
            entry[set_name] = {"vs_ahd_reference": per_ratio, "vs_same_reference_mean": float(np.mean(same))}
            cells.append(" / ".join("–" if v is None else f"{v:.2f}" for v in per_ratio))
        summary[name] = entry
        lines.append(
            f"| {name} | {seconds[name]:.2f} s | {seconds[name] / seconds['AHD']:.2f}× | {cells[0]} | {cells[1]} | "
            f"{entry['photos']['vs_same_reference_mean']:.2f} | {entry['real raws']['vs_same_reference_mean']:.2f} |"
        )
    return summary, "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=16, help="held-out photos to use (of 16)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args(argv)
    if not (SHARED / "photos").is_dir():
        print("needs ../shared (photos, raw, noise)", file=sys.stderr)
        return 1
    load = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="darkvision-demosaic-") as folder:
        rows = quality(args.photos, folder)
    seconds = speed(args.repeats)
    summary, text = summarise(rows, seconds)
    report = {
        "name": args.name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/demosaic.py " + " ".join(sys.argv[1:]),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in OPTIONS.items()},
        "load_average": [list(load), list(os.getloadavg())],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "rows": rows,
        "table": text,
    }
    target = save_report("demosaic", args.name, report)
    print(f"{text}\n\nwrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

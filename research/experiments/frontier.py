"""Release 6's design table and Pareto chart: each network's 12 MP float32 time (ratio to
release 5's, from one run of benchmarks/architectures.py) against its sRGB PSNR on both
validation sets (from `napari-darkvision evaluate` results).

    python research/experiments/frontier.py --speed research/benchmarks/architectures-NAME.json \
        --eval runs/eval-v6/results.json --eval runs/equal-2000/eval/results.json \
        --method "release 5=fast-aware" --method "fast-rep (2000 steps)=fast-rep" ...

Writes frontier.md and frontier.png beside this script. A method's architecture (after "=")
gives its time; BM3D is listed for quality only (it is not a network of the table).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
RATIOS = (100.0, 250.0, 300.0)
SETS = ("photos", "real raws")


def quality(evals: list[Path]) -> dict[str, dict[tuple[str, float], dict]]:
    """method -> (set, ratio) -> summary row, over all the evaluation files (later ones win)."""
    rows: dict[str, dict] = {}
    for path in evals:
        for row in json.loads(path.read_text())["summary"]:
            rows.setdefault(row["method"], {})[(row["set"], float(row["ratio"]))] = row
    return rows


def mean_srgb(rows: dict, which: str) -> float:
    values = [rows[(which, r)]["psnr_srgb"] for r in RATIOS if (which, r) in rows]
    return sum(values) / len(values) if values else float("nan")


def table(methods: dict[str, str], rows: dict, speed: dict) -> str:
    lines = [
        "| network | parameters | MAC / packed px | 12 MP float32 (× release 5) | photos sRGB ×100 / ×250 / ×300 "
        "| real raws sRGB ×100 / ×250 / ×300 | SSIM sRGB photos ×100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, arch in methods.items():
        q = rows.get(label, {})
        s = speed.get(arch, {})
        cells = []
        for which in SETS:
            cells.append(
                " / ".join(f"{q[(which, r)]['psnr_srgb']:.2f}" if (which, r) in q else "-" for r in RATIOS)
            )
        ssim = f"{q[('photos', 100.0)]['ssim_srgb']:.3f}" if ("photos", 100.0) in q else "-"
        timing = f"{s['seconds_12mp_float32']:.2f} s ({s['ratio_to_release5']:.2f}×)" if s else "-"
        params = f"{s['parameters_inference']:,}" if s else "-"
        mac = f"{s['mac_per_packed_pixel']:,.0f}" if s else "-"
        lines.append(f"| {label} | {params} | {mac} | {timing} | {cells[0]} | {cells[1]} | {ssim} |")
    return "\n".join(lines) + "\n"


def chart(points: list[tuple[str, float, float, float]], path: Path) -> None:
    """Time ratio (x, log-free) against mean sRGB PSNR, one dot per network and set."""
    width, height, margin = 900, 560, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    xs = [p[1] for p in points]
    ys = [v for p in points for v in p[2:] if v == v]
    x0, x1 = 0.0, max(xs) * 1.1
    y0, y1 = min(ys) - 0.5, max(ys) + 0.5

    def at(x: float, y: float) -> tuple[float, float]:
        return (margin + (x - x0) / (x1 - x0) * (width - 2 * margin),
                height - margin - (y - y0) / (y1 - y0) * (height - 2 * margin))  # fmt: skip

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    for i in range(6):
        y = y0 + (y1 - y0) * i / 5
        draw.text((8, at(0, y)[1] - 6), f"{y:.1f} dB", fill="black")
        x = x0 + (x1 - x0) * i / 5
        draw.text((at(x, y0)[0] - 10, height - margin + 8), f"{x:.2f}x", fill="black")
    draw.text((width // 2 - 150, height - 30), "12 MP network time, float32, x release 5's", fill="black")
    draw.text(
        (margin, 20), "mean sRGB PSNR over x100/x250/x300: photos (blue), real raws (red)", fill="black"
    )
    for label, x, photos, raws in points:
        for value, colour in ((photos, "blue"), (raws, "red")):
            if value == value:
                cx, cy = at(x, value)
                draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], fill=colour)
                draw.text((cx + 8, cy - 6), label, fill=colour)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed", type=Path, required=True)
    parser.add_argument("--eval", type=Path, action="append", required=True)
    parser.add_argument(
        "--method", action="append", required=True, help="LABEL=ARCH (LABEL as in the evaluation)"
    )
    args = parser.parse_args()
    speed = {row["arch"]: row for row in json.loads(args.speed.read_text())["rows"]}
    methods = dict(m.split("=", 1) for m in args.method)
    rows = quality(args.eval)
    missing = [label for label in methods if label not in rows]
    if missing:
        raise SystemExit(f"not in the evaluations: {missing}; they have {sorted(rows)}")
    text = table(methods, rows, speed)
    bm3d = rows.get("BM3D")
    if bm3d:
        text += (
            "\nBM3D (no network, quality only): photos "
            + " / ".join(f"{bm3d[('photos', r)]['psnr_srgb']:.2f}" for r in RATIOS if ("photos", r) in bm3d)
            + ", real raws "
            + " / ".join(
                f"{bm3d[('real raws', r)]['psnr_srgb']:.2f}" for r in RATIOS if ("real raws", r) in bm3d
            )
            + " dB sRGB.\n"
        )
    (HERE / "frontier.md").write_text(text)
    points = [(label, speed[arch]["ratio_to_release5"], mean_srgb(rows[label], "photos"),
               mean_srgb(rows[label], "real raws")) for label, arch in methods.items() if arch in speed]  # fmt: skip
    chart(points, HERE / "frontier.png")
    print(text)


if __name__ == "__main__":
    main()

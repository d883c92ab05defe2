"""Plot a training log (log.csv) as a PNG, with Pillow only (no plotting library needed)."""

from __future__ import annotations

import csv
from pathlib import Path


def read_log(path: str | Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def plot_curve(log: str | Path, out: str | Path, title: str = "validation PSNR (raw, dB)") -> None:
    from PIL import Image, ImageDraw

    rows = [r for r in read_log(log) if r.get("val_psnr_raw")]
    steps = [int(r["step"]) for r in rows]
    values = [float(r["val_psnr_raw"]) for r in rows]
    width, height, margin = 640, 360, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    lo, hi = min(values) - 0.5, max(values) + 0.5
    last = max(steps[-1], 1)

    def xy(step, value):
        x = margin + (width - 2 * margin) * step / last
        y = height - margin - (height - 2 * margin) * (value - lo) / (hi - lo)
        return x, y

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        _, y = xy(0, value)
        draw.line([margin - 4, y, margin, y], fill="black")
        draw.text((4, y - 6), f"{value:.1f}", fill="black")
    for k in range(5):
        step = last * k / 4
        x, _ = xy(step, lo)
        draw.text((x - 12, height - margin + 6), f"{int(step)}", fill="black")
    draw.line([xy(s, v) for s, v in zip(steps, values, strict=True)], fill=(200, 40, 40), width=2)
    draw.text((margin, 15), f"{title} vs training step", fill="black")
    image.save(out)


if __name__ == "__main__":
    import sys

    plot_curve(sys.argv[1], sys.argv[2])

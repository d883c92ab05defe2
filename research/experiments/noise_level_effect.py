"""Session 3: how much does the blind noise estimate cost the shipped model?

    python research/experiments/noise_level_effect.py ../shared

Runs the shipped model on the evaluation sets (the 16 validation photos at 384 px and the four
real raws at 512 px, x100/x250/x300, Sony A7S II noise; the pairs of `napari-darkvision
evaluate`) three ways: with its own estimate (as shipped), with the true noise level of each
pair, and with an estimate from the two greens of each Bayer quad (G1 - G2, then a horizontal
difference; the scene cancels, the noise stays). Prints mean PSNR raw / sRGB per set and ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import napari_darkvision.core.model as model_module
from napari_darkvision.core.pipeline import run_to_end
from napari_darkvision.core.render import quick_render
from napari_darkvision.core.tiling import run_tiled
from napari_darkvision.training.datasets import list_photos, photo_validation, raw_validation, split_photos
from napari_darkvision.training.metrics import psnr
from napari_darkvision.training.noise_model import NoiseModel, _tukey_variance
from napari_darkvision.training.train import default_noise_file

RAWS = ["colorchart.dng", "HERO7_GOPR9231.DNG", "IMG_5952.CR2", "Blackmagic.dng"]


def true_noise(pair) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of the amplified pair; without row noise, which the estimate's kernel cancels."""
    n = pair.noise
    read_var = n.read_sigma**2 * _tukey_variance(n.read_lambda) + 1 / 12
    return torch.tensor([pair.ratio * n.K / n.white]), torch.tensor([pair.ratio**2 * read_var / n.white**2])


def green_difference_noise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.float()
    g1, g2 = x[:, 1:2], x[:, 3:4]
    d = g1 - g2
    e = d[..., 1:] - d[..., :-1]  # variance 4 (a * level + b)
    green = F.avg_pool2d((g1 + g2) / 2, 3, stride=1, padding=1, count_include_pad=False)
    level = ((green[..., 1:] + green[..., :-1]) / 2).flatten(1)
    peak = torch.maximum(g1, g2)
    valid = (torch.maximum(peak[..., 1:], peak[..., :-1]) < 0.98).flatten(1)
    residual = e.abs().flatten(1)
    median = level.masked_fill(~valid, float("nan")).nanmedian(dim=1, keepdim=True).values
    points = []
    for part in (valid & (level <= median), valid & (level > median)):
        mad = residual.masked_fill(~part, float("nan")).nanmedian(dim=1).values.nan_to_num(0.0)
        points.append(((level * part).sum(1) / part.sum(1).clamp(min=1), (1.4826 * mad / 2) ** 2))
    (m0, v0), (m1, v1) = points
    a = ((v1 - v0) / (m1 - m0).clamp(min=1e-4)).clamp(min=0.0)
    return a, (v0 - a * m0).clamp(min=1e-8)


def main(shared: Path) -> None:
    torch.set_num_threads(2)
    model = model_module.load_model(device="cpu")
    noise_model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    _, val = split_photos(list_photos(shared / "photos"))
    sets = {
        "photos": photo_validation(val, noise_model, crop=384),
        "real raws": raw_validation([shared / "raw" / name for name in RAWS], noise_model, crop=512),
    }
    shipped = model_module.estimate_noise
    scores: dict[tuple, list] = {}
    for set_name, items in sets.items():
        for item in items:
            pair = item.pair
            look = (pair.look.wb, pair.look.rgb_from_camera)
            reference = quick_render(pair.clean, *look)
            for way, estimate in (("own estimate", shipped), ("true noise", lambda x, p=pair: true_noise(p)),
                                  ("green difference", green_difference_noise)):  # fmt: skip
                model_module.estimate_noise = estimate
                out = run_to_end(run_tiled(model, pair.noisy))
                model_module.estimate_noise = shipped
                scores.setdefault((set_name, pair.ratio, way), []).append(
                    (psnr(out, pair.clean), psnr(quick_render(out, *look), reference))
                )
    for (set_name, ratio, way), values in scores.items():
        raw, srgb = np.mean(values, axis=0)
        print(f"{set_name:9s} x{ratio:<4g} {way:16s} raw {raw:6.2f} dB  sRGB {srgb:6.2f} dB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))

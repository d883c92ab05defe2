"""Session 3: would wider packed-resolution stages (refine and detail gate) help the shipped model?

    python research/experiments/wider_packed_stages.py ../shared runs/stages 32 1 2000 3e-4

Everything before those two stages stays the shipped model's, so its output is computed once:
for 3,200 training pairs (the training sampler, seeds unused by training) and for the
evaluation sets. Then only the stages train, on 64x64 packed crops of the cached pairs, with the
shipped loss (log-l1+srgb), starting from the shipped stages widened without changing what they
compute (new first-layer filters random, their weights in the last layer zero; the optional
residual block starts at zero). Prints the evaluation (PSNR raw, sRGB per set and ratio) at the
start and every 1,000 steps. Arguments: shared folder, cache folder, width, residual block (0/1),
steps, learning rate.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from napari_darkvision.core.archs.blocks import box_mean
from napari_darkvision.core.model import load_model, noise_level_map
from napari_darkvision.core.noise import log_scale
from napari_darkvision.core.render import quick_render
from napari_darkvision.core.tiling import keep_channel_levels
from napari_darkvision.training.datasets import (
    PhotoPairs,
    list_photos,
    photo_validation,
    raw_validation,
    split_photos,
)
from napari_darkvision.training.metrics import psnr
from napari_darkvision.training.synth import NoiseModel
from napari_darkvision.training.train import _loss, default_noise_file

RAWS = ["colorchart.dng", "HERO7_GOPR9231.DNG", "IMG_5952.CR2", "Blackmagic.dng"]
CACHED_PAIRS = 3200
CROP = 64


def body(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped model up to its packed-resolution stages: (estimate, noise map)."""
    with torch.inference_mode():
        noise_map = noise_level_map(x)
        h = model.fold(torch.cat([x, noise_map], 1))
        skips = []
        for i, block in enumerate(model.down):
            h = block(model.pool(h) if i else h)
            skips.append(h)
        skips.pop()
        for up, merge in zip(model.up, model.merge, strict=True):
            h = merge(torch.cat([up(h), skips.pop()], 1))
        return model.unfold(model.head(h)), noise_map


def cache(model, shared: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    train_paths, val_paths = split_photos(list_photos(shared / "photos"))
    darktable = str(shared / "noise" / "darktable_noiseprofiles.json")
    source = PhotoPairs(
        train_paths, NoiseModel.from_files(default_noise_file("eld_camera_params.json"), darktable)
    )
    parts = {"x": [], "base": [], "noise_map": [], "y": [], "looks": []}
    for i in range(CACHED_PAIRS // 8):
        noisy, clean, looks = source.batch(np.random.default_rng([999, i]), 8)
        base, noise_map = body(model, torch.from_numpy(noisy))
        for key, value in zip(parts, (noisy, base.numpy(), noise_map.numpy(), clean, looks), strict=True):
            parts[key].append(value)
    np.savez(folder / "train.npz", **{k: np.concatenate(v) for k, v in parts.items()})
    noise_model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    sets = {"photos": photo_validation(val_paths, noise_model, crop=384),
            "real raws": raw_validation([shared / "raw" / n for n in RAWS], noise_model, crop=512)}  # fmt: skip
    val = []
    for set_name, items in sets.items():
        for item in items:
            p = item.pair
            base, noise_map = body(model, torch.from_numpy(p.noisy)[None])
            val.append({"set": set_name, "ratio": p.ratio, "x": p.noisy, "base": base[0].numpy(),
                        "noise_map": noise_map[0].numpy(), "y": p.clean, "wb": p.look.wb,
                        "matrix": p.look.rgb_from_camera})  # fmt: skip
    torch.save(val, folder / "val.pt")


def widened(old: nn.Sequential, width: int, block: bool) -> nn.ModuleDict:
    first, last = nn.Conv2d(9, width, 3, padding=1), nn.Conv2d(width, 4, 3, padding=1)
    with torch.no_grad():
        first.weight[:16], first.bias[:16] = old[0].weight, old[0].bias
        last.weight.zero_()
        last.weight[:, :16] = old[2].weight
        last.bias.copy_(old[2].bias)
    middle = nn.Sequential(
        nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(width, width, 3, padding=1)
    )
    nn.init.zeros_(middle[2].weight)
    nn.init.zeros_(middle[2].bias)
    return nn.ModuleDict({"first": first, "middle": middle if block else nn.Identity(), "last": last})


class Stages(nn.Module):
    def __init__(self, model, width: int, block: bool):
        super().__init__()
        self.block = block
        self.refine, self.gate = widened(model.refine, width, block), widened(model.gate, width, block)

    def _run(self, stage: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.leaky_relu(stage["first"](x), 0.2)
        return stage["last"](h + stage["middle"](h) if self.block else h)

    def forward(self, x, base, noise_map):
        out = base + self._run(self.refine, torch.cat([x, base, noise_map], 1))
        residual = x - out
        above_noise = log_scale(box_mean(residual * residual, 3)) - noise_map
        gate = torch.sigmoid(self._run(self.gate, torch.cat([above_noise, noise_map, out], 1)))
        return out + gate * residual


def evaluate(stages: Stages, val: list[dict]) -> dict:
    scores: dict[str, list] = {}
    with torch.no_grad():
        for v in val:
            out = stages(*(torch.from_numpy(v[k])[None] for k in ("x", "base", "noise_map")))[0]
            out = keep_channel_levels(out.clamp(0, 1).numpy().copy(), v["x"])
            rendered, reference = (quick_render(a, v["wb"], v["matrix"]) for a in (out, v["y"]))
            scores.setdefault(f"{v['set']} x{v['ratio']:g}", []).append(
                (psnr(out, v["y"]), psnr(rendered, reference))
            )
    return {k: tuple(round(float(m), 2) for m in np.mean(s, axis=0)) for k, s in scores.items()}


def main(shared: Path, folder: Path, width: int, block: bool, steps: int, lr: float) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = load_model(device="cpu")
    if not (folder / "train.npz").is_file():
        cache(model, shared, folder)
    data = {k: torch.from_numpy(v) for k, v in np.load(folder / "train.npz").items()}
    val = torch.load(folder / "val.pt", weights_only=False)
    stages = Stages(model, width, block)
    gate = [p for name, p in stages.named_parameters() if name.startswith("gate")]
    rest = [p for name, p in stages.named_parameters() if not name.startswith("gate")]
    optimizer = torch.optim.Adam([{"params": rest, "scale": 1.0}, {"params": gate, "scale": 3.0}], lr=lr)
    print("start", evaluate(stages, val), flush=True)
    rng, started = np.random.default_rng(1), time.perf_counter()
    for step in range(1, steps + 1):
        index = rng.integers(0, len(data["x"]), 16)
        y0, x0 = rng.integers(0, data["x"].shape[-1] - CROP + 1, 2)
        x, base, noise_map, clean = (data[k][index][..., y0 : y0 + CROP, x0 : x0 + CROP]
                                     for k in ("x", "base", "noise_map", "y"))  # fmt: skip
        for group in optimizer.param_groups:
            group["lr"] = (lr * 0.5 * (1 + np.cos(np.pi * step / steps)) + 1e-6) * group["scale"]
        loss = _loss(stages(x, base, noise_map), clean, "log-l1+srgb", data["looks"][index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 1000 == 0 or step == steps:
            print(step, f"{time.perf_counter() - started:.0f} s", evaluate(stages, val), flush=True)


if __name__ == "__main__":
    shared, folder, width, block, steps, lr = sys.argv[1:7]
    main(Path(shared), Path(folder), int(width), bool(int(block)), int(steps), float(lr))

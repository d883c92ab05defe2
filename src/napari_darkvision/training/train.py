"""Training: synthetic pairs from photos (or real raws, or a SID list) -> a U-Net checkpoint.

Every batch is drawn from ``numpy.random.default_rng([seed, step])``, so a run resumed from a
checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..core.archs import build_network
from ..core.model import choose_device, memory_format, save_weights
from .metrics import psnr
from .noise_model import NoiseModel


@dataclass
class TrainOptions:
    out: str
    photos: str | None = None
    raws: list[str] = field(default_factory=list)
    sid_list: str | None = None
    eld: str | None = None
    darktable: str | None = None
    arch: str = "fast-aware"
    steps: int = 20000
    batch: int = 8
    crop: int = 256
    lr: float = 3e-4
    min_lr: float = 1e-5
    seed: int = 0
    device: str | None = None
    val_every: int = 500
    checkpoint_every: int = 250
    val_items: int = 24
    threads: int | None = None
    session_steps: int | None = None  # stop after this many steps of this run (resume later)
    init: str | None = (
        None  # start from these weights (a .safetensors or a shipped model's name), not random ones
    )
    loss: str = "log-l1+srgb"  # one of LOSSES, see _loss (which release used which: the model card)
    workers: int = 0  # processes making the training pairs (0: the training process itself)
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: none)
    defects: float = 0.0  # fraction of synthetic pairs from a sensor with defects (training.defects)


LOSSES = ("log-l1+srgb", "log-l1+gamma", "l1+gamma", "l1")


def _loss(
    out: torch.Tensor, target: torch.Tensor, kind: str = "l1", looks: torch.Tensor | None = None
) -> torch.Tensor:
    """L1, plus L1 of 8x8 means: the second term keeps colour and shadow levels unbiased.

    "l1+gamma" adds L1 after a display gamma: linear L1 hardly sees errors in the shadows, which
    the rendered image (and sRGB PSNR) magnifies.

    "log-l1+gamma" averages the logarithm of each image's loss instead of the loss: the very
    darkest pairs have errors ten times those of clean ones and ruled a plain mean, so the
    network learned to blur the texture it could have kept. Equal weight to each image's
    relative error is what a mean PSNR over images measures.

    "log-l1+srgb" takes the display term after each pair's own rendering (`looks`: (n, 3, 4)
    white balance and colour matrix, then the sRGB curve of core.render; release 5 trained with
    LibRaw's BT.709 curve here): the red and blue gains and the matrix multiply noise left in
    those channels, which a gamma on raw channels misses."""
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {kind!r}")

    def per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean(dim=(1, 2, 3))

    loss = per_image(out, target) + 0.5 * per_image(F.avg_pool2d(out, 8), F.avg_pool2d(target, 8))
    if kind.endswith("+srgb"):
        if looks is None:
            raise ValueError(f"the {kind!r} loss needs each pair's rendering matrix")
        loss = loss + per_image(_render(out, looks), _render(target, looks))
    elif kind != "l1":
        loss = loss + per_image(_display_gamma(out), _display_gamma(target))
    if kind.startswith("log-"):
        return torch.log(loss + 1e-4).mean()
    return loss.mean()


def _display_gamma(x: torch.Tensor) -> torch.Tensor:
    # the offset keeps the gradient finite at black
    return (x.clamp(min=0.0) + 1e-3) ** (1 / 2.2)


def _render(packed: torch.Tensor, looks: torch.Tensor) -> torch.Tensor:
    """(n, 4, h, w) packed raw -> (n, 3, h, w) display values, as quick_render (differentiable)."""
    from ..core.render import SRGB_TOE

    rgb = torch.einsum("nck,nkhw->nchw", looks, packed.clamp(0.0, 1.0)).clamp(0.0, 1.0)
    # the sRGB curve of core.render; its linear toe keeps the gradient finite at black
    power = 1.055 * rgb.clamp(min=SRGB_TOE) ** (1 / 2.4) - 0.055
    return torch.where(rgb <= SRGB_TOE, 12.92 * rgb, power)


def _lr_at(step: int, opts: TrainOptions) -> float:
    warmup = min(200, opts.steps // 10)
    if step < warmup:
        return opts.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, opts.steps - warmup)
    return opts.min_lr + 0.5 * (opts.lr - opts.min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def build_sources(opts: TrainOptions):
    """(training source with .batch(rng, n), validation items)."""
    from .datasets import PhotoPairs, RawPairs, SIDPairs, list_photos, photo_validation, split_photos

    if opts.sid_list:
        sid = SIDPairs(opts.sid_list, crop=opts.crop)
        return sid, sid.validation()[: opts.val_items]
    noise_model = NoiseModel.from_files(
        opts.eld or default_noise_file("eld_camera_params.json"), opts.darktable
    )
    if opts.photos:
        train_paths, val_paths = split_photos(list_photos(opts.photos))
        source = PhotoPairs(train_paths, noise_model, crop=opts.crop, defects=opts.defects)
        per_photo = 3
        val = photo_validation(val_paths[: max(1, opts.val_items // per_photo)], noise_model, crop=256)
        return source, val
    if opts.raws:
        source = RawPairs([Path(p) for p in opts.raws], noise_model, crop=opts.crop)
        return source, []
    raise ValueError("Give training data: --photos DIR, --raws FILE..., or --sid-list FILE")


def default_noise_file(name: str) -> str:
    """The ELD calibration ships with the package (MIT); other files come from the command line."""
    from importlib import resources

    path = resources.files("napari_darkvision.training") / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found: pass it with --eld / --darktable")
    return str(path)


def _batch_at(source, seed: int, size: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch of `step`: it depends on (seed, step) alone, wherever and whenever it is made."""
    return source.batch(np.random.default_rng([seed, step]), size)


class StepBatches(Dataset):
    """The batches of steps start..stop-1 as a dataset: item i is the batch of step start + i."""

    def __init__(self, source, seed: int, size: int, start: int, stop: int):
        self.source, self.seed, self.size, self.start, self.stop = source, seed, size, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _batch_at(self.source, self.seed, self.size, self.start + index)


def _as_made(batch):
    """The batch as the dataset made it (numpy arrays), not converted to tensors."""
    return batch


def batches(
    source, opts: TrainOptions, start: int, stop: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The batches of steps start..stop-1, in order.

    With ``opts.workers`` a torch DataLoader makes them in that many processes, at most two per
    worker ahead of training: a 128x128 packed pair takes 8-20 ms of one CPU core to synthesise,
    so a GPU that trains a step in a few milliseconds would otherwise wait for the CPU. The
    processes are forked, so they share the decoded photos instead of receiving copies; where
    the system cannot fork (Windows), pairs are made in the training process."""
    workers = opts.workers
    if workers and "fork" not in multiprocessing.get_all_start_methods():
        warnings.warn("--workers needs fork(): making the pairs in the training process", stacklevel=2)
        workers = 0
    loader = DataLoader(
        StepBatches(source, opts.seed, opts.batch, start, stop),
        batch_size=None,  # each item is already a whole batch
        collate_fn=_as_made,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        multiprocessing_context="fork" if workers else None,
        generator=torch.Generator(),  # its workers' seeds are not drawn from torch's global generator
    )
    yield from loader


def validate(model: torch.nn.Module, items, device: torch.device) -> tuple[float, float]:
    """Mean PSNR over fixed validation pairs: raw space, and rendered (sRGB) where pairs have a look."""
    from ..core.pipeline import run_to_end
    from ..core.render import quick_render
    from ..core.tiling import run_tiled

    model.eval()
    raw_scores, srgb_scores = [], []
    for item in items:
        pair = item.pair
        estimate = run_to_end(run_tiled(model, pair.noisy, device=device))
        raw_scores.append(psnr(estimate, pair.clean))
        if pair.look is not None:
            look = (pair.look.wb, pair.look.rgb_from_camera)
            srgb_scores.append(psnr(quick_render(estimate, *look), quick_render(pair.clean, *look)))
    model.train()

    def mean(scores):
        return float(np.mean(scores)) if scores else float("nan")

    return mean(raw_scores), mean(srgb_scores)


def train(opts: TrainOptions, resume: bool = False, progress: bool = True) -> dict:
    """Train a network (or resume its training) on synthetic or real pairs.

    Parameters
    ----------
    opts : TrainOptions
        Data, architecture and schedule; ``opts.out`` is the folder that gets last.pt (the
        checkpoint), best.safetensors, final.safetensors, log.csv and options.json.
    resume : bool
        Continue from ``out/last.pt`` where it exists, as if the run had never stopped.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        steps, best_val_psnr_raw, elapsed_s and device.
    """
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    device = choose_device(opts.device)
    source, val_items = build_sources(opts)
    model, optimizer, ema = _network_and_optimizer(opts, device)
    checkpoint = out / "last.pt"
    step, best, elapsed = (
        _resume(checkpoint, device, model, optimizer, ema) if resume else (0, -float("inf"), 0.0)
    )
    (out / "options.json").write_text(json.dumps(asdict(opts), indent=2))
    new_log = not (resume and (out / "log.csv").is_file())
    bar = _progress_bar(opts, step, progress)
    started = time.perf_counter() - elapsed
    running, last_val, last_val_srgb = [], float("nan"), float("nan")
    model.train()
    evaluated = model if ema is None else ema.module
    stop_at = opts.steps if opts.session_steps is None else min(opts.steps, step + opts.session_steps)
    with open(out / "log.csv", "w" if new_log else "a", newline="") as log:
        writer = _log_writer(log, new_log)
        for batch in batches(source, opts, step, stop_at):
            loss, lr = _step(model, optimizer, ema, batch, _lr_at(step, opts), opts.loss, device)
            step += 1
            running.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(running[-50:]):.4f}", val=f"{last_val:.2f}")
            do_val = step % opts.val_every == 0 or step == opts.steps
            if do_val and val_items:
                last_val, last_val_srgb = validate(evaluated, val_items, device)
                best = _keep_best(evaluated, out, step, last_val, best)
            if step % opts.checkpoint_every == 0 or do_val or step == stop_at:
                vals = [f"{last_val:.4f}", f"{last_val_srgb:.4f}"] if do_val else ["", ""]
                seconds = time.perf_counter() - started
                writer.writerow([step, f"{np.mean(running):.6f}", f"{lr:.3g}", *vals, f"{seconds:.1f}"])
                log.flush()
                running = []
                _save_checkpoint(checkpoint, model, optimizer, step, best, time.perf_counter() - started, ema)
    bar.close()
    save_weights(evaluated, out / "final.safetensors", {"step": step})
    seconds = time.perf_counter() - started
    return {"steps": step, "best_val_psnr_raw": best, "elapsed_s": seconds, "device": str(device)}


def _progress_bar(opts: TrainOptions, step: int, shown: bool):
    from tqdm import tqdm

    return tqdm(total=opts.steps, initial=step, desc=f"train {opts.arch}", unit="step", disable=not shown)


def _log_writer(log, new: bool):
    """A CSV writer on `log`, which gets the header first where it is a new log."""
    writer = csv.writer(log)
    if new:
        writer.writerow(["step", "loss", "lr", "val_psnr_raw", "val_psnr_srgb", "elapsed_s"])
    return writer


def _keep_best(evaluated, out: Path, step: int, score: float, best: float) -> float:
    """Save the weights as best.safetensors where `score` beats `best`: the best score now."""
    if not score > best:  # as before: a NaN score is never the best
        return best
    save_weights(evaluated, out / "best.safetensors", {"step": step, "val_psnr_raw": score})
    return score


def _network_and_optimizer(opts: TrainOptions, device: torch.device):
    """The network (seeded, or from ``opts.init``), its optimizer and its weights' average (or None)."""
    torch.manual_seed(opts.seed)
    model = build_network(opts.arch).to(device, memory_format=memory_format(device))
    # the detail gate starts nearly closed and has to open: it learns 10x faster than the rest
    fast_prefixes = ("gate.", "detail_gate.")
    gate = [p for name, p in model.named_parameters() if name.startswith(fast_prefixes)]
    rest = [p for name, p in model.named_parameters() if not name.startswith(fast_prefixes)]
    groups = [{"params": rest, "lr_scale": 1.0}] + ([{"params": gate, "lr_scale": 10.0}] if gate else [])
    optimizer = torch.optim.Adam(groups, lr=opts.lr)
    ema = None
    if opts.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        # validation, best and final weights are the average's: steadier than the last step's
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(opts.ema), use_buffers=True)
    if opts.init:
        from safetensors.torch import load_file

        from ..core.bundled import weights_file
        from ..core.model import load_grown

        with torch.no_grad():
            load_grown(model, load_file(weights_file(opts.init)))
    return model, optimizer, ema


def _resume(checkpoint: Path, device, model, optimizer, ema) -> tuple[int, float, float]:
    """Load a checkpoint into the network, optimizer and average: its step, best and elapsed time
    (those of a new run where there is no checkpoint)."""
    if not checkpoint.is_file():
        return 0, -float("inf"), 0.0
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None and "ema" in state:
        ema.load_state_dict(state["ema"])
    return state["step"], state["best"], state.get("elapsed", 0.0)


def _step(model, optimizer, ema, batch, lr: float, loss_kind: str, device) -> tuple[float, float]:
    """One optimiser step on one batch at learning rate `lr`: the loss, and `lr`."""
    noisy, clean, looks = batch
    x = torch.from_numpy(noisy).to(device).contiguous(memory_format=memory_format(device))
    y = torch.from_numpy(clean).to(device)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    loss = _loss(model(x), y, loss_kind, torch.from_numpy(looks).to(device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if ema is not None:
        ema.update_parameters(model)
    return loss.item(), lr


def _save_checkpoint(path: Path, model, optimizer, step, best, elapsed, ema=None) -> None:
    tmp = path.with_suffix(".tmp")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "best": best,
        "elapsed": elapsed,
        "architecture": asdict(model.config),
    }
    if ema is not None:
        state["ema"] = ema.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)

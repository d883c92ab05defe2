"""Evaluation: our models against plain x ratio scaling and BM3D, per validation set and ratio.

Figures: PSNR and SSIM in raw space (the packed 4 channels) and in sRGB (the packed image
rendered as the product renders, :func:`..core.render.quick_render`: the camera's white
balance and colour matrix, the metadata's white level, the sRGB curve; at half resolution), the colour check (each packed channel's mean vs the reference's) and the shadow
check (mean over the reference's darkest 5 %). BM3D (Makinen, Azzari, Foi 2020; the ``bm3d``
package) is given the true noise: the generalised Anscombe transform with the known gain and
read noise makes the noise unit-variance Gaussian, BM3D denoises with sigma 1, and the closed-form
unbiased inverse (Makitalo & Foi 2013) maps back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..core.render import quick_render
from .metrics import channel_mean_error, psnr, shadow_mean_error, ssim
from .noise_model import NoiseParams


@dataclass
class EvalOptions:
    out: str
    models: dict = field(default_factory=lambda: {"ours": None})  # name -> weights (None: shipped)
    photos: str | None = None
    raws: list[str] = field(default_factory=list)
    sid_list: str | None = None
    eld: str | None = None
    ratios: tuple = (100, 250, 300)
    bm3d: bool = True
    max_items: int | None = None
    device: str | None = None
    grid_items: int = 3
    photo_crop: int = 384  # sensor pixels; BM3D's time grows with the area
    raw_crop: int = 512
    cache: str | None = None  # folder keeping BM3D results between runs (they need no model)
    keep_levels: bool = True  # as the product runs: see core.tiling.keep_channel_levels
    floors: bool = True  # rows showing what the colour and shadow figures allow (see FLOOR_ROWS)
    baselines_from: str | None = None  # an earlier results.json whose BM3D rows to reuse (see _Baselines)
    held_out: bool = False  # the held-out sets of the photos and raws instead of validation's


#: Rows that are not methods but yardsticks for the colour and shadow columns. The noisy input
#: itself is unbiased (it keeps values below black), yet its channel means miss the reference's
#: by the realised noise's mean, mostly row noise: no method can know that. And the darkest 5 %
#: of the reference are mostly isolated dark pixels, so a result as soft as the reference blurred
#: by 0.7 packed pixels already reads high there.
FLOOR_ROWS = ("input, unclipped (floor)", "reference blurred 0.7 px")
#: The held-out sets' names begin so (:func:`.datasets.held_out_photos`, :func:`.datasets.held_out_raws`);
#: the summary pools them too, as "held-out (all)".
HELD_OUT_PREFIX = "held-out "


def bm3d_denoise(noisy: np.ndarray, ratio: float, noise: NoiseParams) -> np.ndarray:
    """BM3D on (4, h, w) amplified data with the true Poisson-Gaussian noise level."""
    import bm3d

    alpha = ratio * noise.K / noise.white  # shot-noise gain in amplified units
    sigma = ratio * np.sqrt(noise.read_variance()) / noise.white
    z = noisy.astype(np.float64) / alpha
    s = sigma / alpha
    forward = 2.0 * np.sqrt(np.maximum(z + 3.0 / 8.0 + s**2, 0.0))
    out = np.empty_like(noisy, dtype=np.float32)
    for c in range(noisy.shape[0]):
        lo, hi = forward[c].min(), forward[c].max()
        span = max(hi - lo, 1e-6)
        den = bm3d.bm3d((forward[c] - lo) / span, sigma_psd=1.0 / span) * span + lo
        out[c] = _inverse_gat(den, s) * alpha
    return np.clip(out, 0.0, 1.0)


def _inverse_gat(d: np.ndarray, sigma: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2013)."""
    d = np.maximum(d, 0.8)
    r = np.sqrt(1.5)
    inverse = 0.25 * d**2 + 0.25 * r / d - 11.0 / 8.0 / d**2 + 5.0 / 8.0 * r / d**3 - 1.0 / 8.0 - sigma**2
    return np.maximum(inverse, 0.0)


def _sets(opts: EvalOptions):
    from .datasets import (
        SIDPairs,
        held_out_photos,
        held_out_raws,
        list_photos,
        photo_validation,
        raw_validation,
        split_photos,
    )
    from .noise_model import NoiseModel
    from .train import default_noise_file

    sets = {}
    if opts.photos or opts.raws:
        noise_model = NoiseModel.from_files(opts.eld or default_noise_file("eld_camera_params.json"))
    photo_set, raw_set = (
        (held_out_photos, held_out_raws) if opts.held_out else (photo_validation, raw_validation)
    )
    prefix = HELD_OUT_PREFIX if opts.held_out else ""
    if opts.photos:
        _, val = split_photos(list_photos(opts.photos))
        sets[prefix + "photos"] = photo_set(
            val[: opts.max_items], noise_model, ratios=opts.ratios, crop=opts.photo_crop
        )
    if opts.raws:
        paths = [Path(p) for p in opts.raws][: opts.max_items]
        sets[prefix + "real raws"] = raw_set(paths, noise_model, ratios=opts.ratios, crop=opts.raw_crop)
    if opts.sid_list:
        sets["SID"] = SIDPairs(opts.sid_list).validation()[: opts.max_items]
    return sets


def _cached(folder: str | None, key: str, compute):
    if not folder:
        return compute()
    path = Path(folder) / (key.replace("/", "_").replace(" ", "_") + ".npy")
    if path.is_file():
        return np.load(path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


def _run_model(model, noisy: np.ndarray, keep_levels: bool = True) -> np.ndarray:
    from ..core.pipeline import run_to_end
    from ..core.tiling import run_tiled

    return run_to_end(run_tiled(model, noisy, keep_levels=keep_levels))


class _Baselines:
    """BM3D rows of an earlier evaluation, reused where it evaluated the very same pair.

    BM3D needs no model and takes about ten seconds a pair on two cores, so comparing a new
    model need not run it again. A pair counts as the same when the earlier run's plain-scaling
    row matches this run's to 1e-6 in PSNR (dB) and SSIM (both raw): the pairs come from fixed seeds,
    and any change in them (crop, noise model, ratio) shows there."""

    def __init__(self, path: str | None):
        self.path = path
        self.rows: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
        if path:
            for row in json.loads(Path(path).read_text())["rows"]:
                self.rows[(row["set"], row["image"])][row["method"]] = row
        self.reused = 0

    def bm3d_row(self, set_name: str, image: str, plain: dict) -> dict | None:
        earlier = self.rows.get((set_name, image), {})
        before = earlier.get("plain scaling")
        same = before is not None and all(abs(before[k] - plain[k]) <= 1e-6 for k in ("psnr_raw", "ssim_raw"))
        if not same or "BM3D" not in earlier:
            return None
        self.reused += 1
        return dict(earlier["BM3D"], reused_from=self.path)


def _score(set_name: str, image: str, pair, ref_rgb: np.ndarray, method: str, est: np.ndarray):
    """One method's row of figures on one pair, and its rendering."""
    rgb = quick_render(est, pair.look.wb, pair.look.rgb_from_camera)
    colour = channel_mean_error(est, pair.clean)
    row = {
        "set": set_name,
        "image": image,
        "ratio": round(pair.ratio, 3),
        "method": method,
        "psnr_raw": psnr(est, pair.clean),
        "ssim_raw": ssim(est, pair.clean, channel_axis=0),
        "psnr_srgb": psnr(rgb, ref_rgb),
        "ssim_srgb": ssim(rgb, ref_rgb),
        "channel_mean_err": colour,
        "max_channel_mean_err": max(abs(c) for c in colour),
        "shadow_mean_err": shadow_mean_error(est, pair.clean),
    }
    return row, rgb


def evaluate(opts: EvalOptions, progress: bool = True) -> dict:
    """Score each model, plain scaling and BM3D (and the floors) on fixed validation pairs.

    Parameters
    ----------
    opts : EvalOptions
        The models, the sets and ratios, the baselines; ``opts.out`` gets results.json,
        results.md (the summary table) and a grid image per set.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        options, summary (a row per set, ratio and method), rows (a row per image and method)
        and bm3d_rows_reused.
    """
    from tqdm import tqdm

    from ..core.model import load_model

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    models = {name: load_model(path, opts.device) for name, path in opts.models.items()}
    sets = _sets(opts)
    baselines = _Baselines(opts.baselines_from)
    rows, grids = [], {}
    bar = tqdm(
        total=sum(len(items) for items in sets.values()), desc="evaluate", unit="image", disable=not progress
    )
    for set_name, items in sets.items():
        grid_rows = []
        for item in items:
            in_grid = len(grid_rows) < opts.grid_items * len(opts.ratios)
            item_rows, grid_row = _evaluate_item(opts, set_name, item, models, baselines, in_grid)
            rows += item_rows
            if grid_row:
                grid_rows.append(grid_row)
            bar.update(1)
        if grid_rows:
            grids[set_name] = grid_rows
    bar.close()
    summary = summarise(rows)
    result = {
        "options": {k: str(v) for k, v in opts.__dict__.items()},
        "summary": summary,
        "rows": rows,
        "bm3d_rows_reused": baselines.reused,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1, default=float))
    (out / "results.md").write_text(markdown_table(summary))
    for set_name, grid_rows in grids.items():
        save_grid(out / f"grid_{set_name.replace(' ', '_')}.png", grid_rows)
    return result


def _evaluate_item(opts: EvalOptions, set_name: str, item, models: dict, baselines, in_grid: bool):
    """One pair's rows (plain scaling first, then BM3D, the models, the floors) and, where it is
    in the grid, its images (plain scaling, BM3D, the first model, the reference), else None."""
    pair = item.pair
    look = (pair.look.wb, pair.look.rgb_from_camera)
    ref_rgb = quick_render(pair.clean, *look)
    score = partial(_score, set_name, item.name, pair, ref_rgb)
    plain_row, plain_rgb = score("plain scaling", np.clip(pair.noisy, 0.0, 1.0))
    rows = [plain_row]
    rendered = {"plain scaling": plain_rgb}
    estimates = {}
    if opts.bm3d and pair.noise is not None:
        reused = baselines.bm3d_row(set_name, item.name, plain_row)
        if reused is not None:
            rows.append(reused)
        if reused is None or in_grid:
            key = f"{set_name}_{item.name}_bm3d"
            bm3d = _cached(opts.cache, key, partial(bm3d_denoise, pair.noisy, pair.ratio, pair.noise))
            if reused is None:
                estimates["BM3D"] = bm3d
            else:  # the grid still shows it
                rendered["BM3D"] = quick_render(bm3d, *look)
    for name, model in models.items():
        estimates[name] = _run_model(model, pair.noisy, opts.keep_levels)
    if opts.floors:
        from skimage.filters import gaussian

        estimates[FLOOR_ROWS[0]] = pair.noisy
        estimates[FLOOR_ROWS[1]] = gaussian(pair.clean, sigma=(0, 0.7, 0.7), preserve_range=True)
    for method, est in estimates.items():
        row, rendered[method] = score(method, est)
        rows.append(row)
    if not in_grid:
        return rows, None
    columns = [
        rendered["plain scaling"],
        rendered.get("BM3D"),
        rendered.get(next(iter(models), None)),
        ref_rgb,
    ]
    return rows, [c for c in columns if c is not None]


def summarise(rows: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for row in rows:
        groups[(row["set"], row["ratio"] if row["set"] != "SID" else "all", row["method"])].append(row)
    if len({row["set"] for row in rows if row["set"].startswith(HELD_OUT_PREFIX)}) > 1:
        for row in rows:
            if row["set"].startswith(HELD_OUT_PREFIX):
                groups[(HELD_OUT_PREFIX + "(all)", row["ratio"], row["method"])].append(row)
    summary = []
    for (set_name, ratio, method), members in groups.items():
        entry = {"set": set_name, "ratio": ratio, "method": method, "n": len(members)}
        for key in ("psnr_raw", "ssim_raw", "psnr_srgb", "ssim_srgb"):
            entry[key] = float(np.mean([m[key] for m in members]))
        entry["max_channel_mean_err"] = float(max(m["max_channel_mean_err"] for m in members))
        entry["mean_channel_mean_err"] = float(np.mean([m["max_channel_mean_err"] for m in members]))
        entry["shadow_mean_err"] = float(np.mean([m["shadow_mean_err"] for m in members]))
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict]) -> str:
    lines = [
        "| set | ratio | method | n | PSNR raw | SSIM raw | PSNR sRGB | SSIM sRGB | channel mean err (mean / worst) | shadow mean err |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        lines.append(
            f"| {e['set']} | {e['ratio']} | {e['method']} | {e['n']} | {e['psnr_raw']:.2f} | {e['ssim_raw']:.3f} "
            f"| {e['psnr_srgb']:.2f} | {e['ssim_srgb']:.3f} | {100 * e['mean_channel_mean_err']:.2f} % / "
            f"{100 * e['max_channel_mean_err']:.2f} % | {100 * e['shadow_mean_err']:+.1f} % |"
        )
    return "\n".join(lines) + "\n"


def save_grid(path: Path, rows: list[list[np.ndarray]], tile: int = 256) -> None:
    """Rows of sRGB images side by side (input scaled | BM3D | ours | reference), 8-bit PNG."""
    from PIL import Image

    cells = len(rows[0])
    canvas = Image.new("RGB", (cells * tile, len(rows) * tile))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            im = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
            im.thumbnail((tile, tile))
            canvas.paste(im, (c * tile, r * tile))
    canvas.save(path)

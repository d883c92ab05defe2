"""How far the *auto* exposure ratio lands from the true one, in stops, on pairs whose ratio is
known: the validation photos (every tenth of ../shared/photos, unprocessed to raw and darkened
by x100, x250 and x300 with the Sony A7S II's calibrated noise, as ``evaluate`` makes them), the
shared real raws (long exposures darkened alike), and the bundled sample (a real frame darkened
x100). Also scores other brightness statistics, with the target each needs fitted on the
*training* photos only, to show why the shipped one was chosen.

Run from the repository root: ``.venv/bin/python research/experiments/auto_ratio.py``
(about a minute on one core); output: ``auto_ratio.txt`` beside this script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
RATIOS = (100.0, 250.0, 300.0)
CROP = 512


def candidates(packed: np.ndarray, wb) -> dict[str, float]:
    """Brightness statistics of a packed (4, h, w) image; the ratio is then target / statistic."""
    from napari_darkvision.core.pipeline import scene_level

    luma = _binned_luma(packed, wb)
    stats = {"shipped (scene_level)": scene_level(packed, wb), "mean of all channels": float(packed.mean())}
    # before: the mean of one CFA phase (mosaic[::8, ::8]: red on an RGGB sensor), capped at 99.9 %
    stats["before (red only)"] = min(
        float(np.clip(packed[0], 0, None).mean()), float(np.percentile(packed[0], 99.9))
    )
    for q in (50, 75, 90, 95, 99):
        stats[f"{q}th percentile of binned luma"] = float(np.percentile(luma, q))
    stats["log-mean of binned luma"] = float(np.exp(np.mean(np.log(np.maximum(luma, 1e-6)))))
    return stats


def _binned_luma(packed: np.ndarray, wb, bin_side: int = 8) -> np.ndarray:
    _, h, w = packed.shape
    h, w = h // bin_side * bin_side, w // bin_side * bin_side
    wb = np.asarray(wb, dtype=np.float64)
    luma = 0.25 * (wb[0] * packed[0] + wb[1] * packed[1] + wb[2] * packed[2] + wb[3] * packed[3])
    return luma[:h, :w].reshape(h // bin_side, bin_side, w // bin_side, bin_side).mean(axis=(1, 3))


def pairs():
    """(name, true ratio, dark packed image, clean packed image, white balance)."""
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.training.datasets import list_photos, load_photo, split_photos
    from napari_darkvision.training.synth import NoiseModel, random_look, short_exposure, unprocess
    from napari_darkvision.training.train import default_noise_file

    noise_model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    train, val = split_photos(list_photos(SHARED / "photos"))
    cleans = []
    for i, path in enumerate(val):
        rng = np.random.default_rng([1234, i])
        look = random_look(rng)
        cleans.append((path.stem, rng, unprocess(_centre(load_photo(path)), look), look.wb))
    for i, path in enumerate(sorted((SHARED / "raw").glob("*.*"))):
        try:
            raw = read_raw(path)
        except Exception:  # noqa: BLE001 - the shared folder also holds damaged files
            continue
        packed = np.clip(pack(raw), 0.0, 1.0)
        _, h, w = packed.shape
        c = min(CROP, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        cleans.append(
            (path.stem, np.random.default_rng([4321, i]), packed[:, y : y + c, x : x + c], raw.camera_wb)
        )
    for name, rng, clean, wb in cleans:
        for ratio in RATIOS:
            noise = noise_model.sample(rng, "SonyA7S2")
            yield f"{name}@x{ratio:g}", ratio, short_exposure(clean, ratio, noise, rng), clean, wb
    sample = read_raw(ROOT / "src/napari_darkvision/sample_data/gopro_dark_x100.dng")
    reference = read_raw(ROOT / "sample_data/gopro_clean_reference.dng")
    yield (
        "bundled sample@x100",
        100.0,
        pack(sample, clip=False),
        np.clip(pack(reference), 0, 1),
        sample.camera_wb,
    )


def train_stats() -> list[dict[str, float]]:
    """The statistics of the clean training photos (as unprocessed for training): the targets."""
    from napari_darkvision.training.datasets import list_photos, load_photo, split_photos
    from napari_darkvision.training.synth import random_look, unprocess

    train, _ = split_photos(list_photos(SHARED / "photos"))
    out = []
    for i, path in enumerate(train):
        look = random_look(np.random.default_rng([99, i]))
        out.append(candidates(unprocess(_centre(load_photo(path)), look), look.wb))
    return out


def _centre(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    c = min(CROP, h // 2 * 2, w // 2 * 2)
    y, x = (h - c) // 2, (w - c) // 2
    return image[y : y + c, x : x + c].astype(np.float32) / 255.0


def errors_in_stops(rows, name: str, target: float) -> np.ndarray:
    return np.array([np.log2(target / row["stats"][name] / row["ratio"]) for row in rows])


def main() -> None:
    from napari_darkvision.core.pipeline import AUTO_TARGET

    if not (SHARED / "photos").is_dir():
        sys.exit(f"needs the shared photos at {SHARED / 'photos'}")
    rows = [{"name": n, "ratio": r, "stats": candidates(d, wb)} for n, r, d, _, wb in pairs()]
    fitted = train_stats()
    lines = [
        f"{len(rows)} pairs with a known ratio (x{', x'.join(f'{r:g}' for r in RATIOS)}); |error| in stops",
        "",
    ]
    lines.append(f"{'statistic':38s} {'target':>8s} {'median':>7s} {'p90':>6s} {'max':>6s}")
    for name in rows[0]["stats"]:
        target = AUTO_TARGET if name.startswith("shipped") else float(np.median([s[name] for s in fitted]))
        err = np.abs(errors_in_stops(rows, name, target))
        lines.append(
            f"{name:38s} {target:8.4f} {np.median(err):7.2f} {np.percentile(err, 90):6.2f} {err.max():6.2f}"
        )
    shipped = errors_in_stops(rows, "shipped (scene_level)", AUTO_TARGET)
    before = errors_in_stops(rows, "before (red only)", 0.1)  # the old rule's target, mean 0.1
    photos = np.array([row["name"][:3].isdigit() for row in rows])  # the photos are named NNN_...
    lines += ["", "shipped rule vs the rule before (its own target 0.1), |error| in stops, median / p90:"]
    for label, chosen in (
        ("photos", photos),
        ("real raws and the sample", ~photos),
        ("all", photos | ~photos),
    ):
        new, old = np.abs(shipped[chosen]), np.abs(before[chosen])
        lines.append(f"  {label:26s} n={chosen.sum():2d}  shipped {np.median(new):.2f} / {np.percentile(new, 90):.2f}"
                     f"   before {np.median(old):.2f} / {np.percentile(old, 90):.2f}")  # fmt: skip
    lines += ["", "shipped rule, per pair (signed: + means auto brightens more than the truth):"]
    lines += [f"  {row['name']:40s} {e:+.2f}" for row, e in zip(rows, shipped, strict=True)]
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).with_suffix(".txt")).write_text(text)


if __name__ == "__main__":
    main()

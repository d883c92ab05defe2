"""How far the *auto* exposure ratio lands from the true one, in stops, on whole frames whose
exposure a camera (or its operator) chose: each frame is darkened x100 / x250 / x300 with the
Sony A7S II's ELD noise (``training.synth``, as ``evaluate`` makes short exposures), so its true
ratio is the darkening factor.

Each metering statistic is scored two ways:

- leave one frame out: the target is the median of the *other* frames' statistic (in stops),
  and the held-out frame's three ratios are scored against it;
- a fixed prior: the ISO 12232 saturation-based speed places the metered average at 10/78 =
  0.128 of saturation (metering constant K = 12.5, saturation at 78 / S), fitted on no frame.

Run from the repository root:
``PYTHONPATH=src .venv/bin/python research/experiments/auto_metering.py [--shared ../shared]``
(a few minutes on one core); output: ``auto_metering.txt`` beside this script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RATIOS = (100.0, 250.0, 300.0)
DRAWS = 3  # noise draws per frame and ratio
ISO_PRIOR = 10 / 78
#: the whole frames, and who chose their exposure (exiftool: ExposureProgram, MeteringMode)
FRAMES = {
    "HERO7_GOPR9231.DNG": "GoPro HERO7, program AE, average metering, 1/576 s f/2.8 ISO 252",
    "IMG_5952.CR2": "Canon EOS 30D, manual exposure (partial metering), 1/400 s f/22 ISO 640",
    "Blackmagic.dng": "Blackmagic Pocket 4K, cinema camera, set by its operator, no EXIF exposure",
    "colorchart.dng": "Canon EOS Kiss X4 (Magic Lantern), a colour chart lit for the shot, no EXIF",
}
METERED = ("HERO7_GOPR9231.DNG", "IMG_5952.CR2", "Blackmagic.dng")


SIGMAS = (0.2, 0.25, 0.3, np.inf)  # centre weighting; inf: none (an averaging meter)
CLIPS = (3.0, 4.0, 5.0, np.inf)  # blocks count at most this many stops above the median
SHIPPED = "shipped (metered_level)"


def grid_name(sigma: float, clip: float) -> str:
    weighting = "uniform" if np.isinf(sigma) else f"centre sigma {sigma:g}"
    return f"mean, {weighting}, clip " + ("none" if np.isinf(clip) else f"+{clip:g}")


def candidates(packed: np.ndarray, wb) -> dict[str, float]:
    """Brightness statistics of a packed (4, h, w) frame; the ratio is then target / statistic."""
    from napari_darkvision.core.exposure import block_luminance, centre_weights, metered_level

    blocks = block_luminance(packed, wb)
    median = float(np.median(blocks))
    stops = np.log2(np.maximum(blocks, median / 64))
    out = {SHIPPED: metered_level(packed, wb)}
    out["release 5: 95th percentile"] = float(np.percentile(blocks, 95))
    out["median"] = median
    out["log-mean"] = float(2 ** stops.mean())
    for sigma in (0.25, 0.35):
        weights = centre_weights(blocks.shape, sigma)
        out[f"log-mean, centre sigma {sigma:g}"] = float(2 ** ((stops * weights).sum() / weights.sum()))
    for above in (1, 2, 3):
        clipped = np.clip(stops, np.log2(median) - 4, np.log2(median) + above)
        out[f"log-mean clipped median-4..+{above} stops"] = float(2 ** clipped.mean())
    out["mean clipped at its 99th percentile"] = float(np.minimum(blocks, np.percentile(blocks, 99)).mean())
    for sigma in SIGMAS:
        for clip in CLIPS:
            out[grid_name(sigma, clip)] = metered_level(packed, wb, sigma=sigma, clip_stops=clip)
    return out


def frames(shared: Path):
    """(name, packed clean frame in [0, 1], white balance) for every frame that reads."""
    from napari_darkvision.core.raw import pack, read_raw

    for name in FRAMES:
        path = shared / "raw" / name
        if path.is_file():
            raw = read_raw(path)
            yield name, np.clip(pack(raw), 0.0, 1.0), raw.camera_wb


def measure(shared: Path) -> dict[str, dict[str, np.ndarray]]:
    """{frame: {statistic: log2(statistic x true ratio) per (ratio, draw)}}: the stops at which
    the darkened frame's statistic, amplified by its true ratio, sits."""
    from napari_darkvision.training.synth import NoiseModel, short_exposure
    from napari_darkvision.training.train import default_noise_file

    noise_model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    out = {}
    for index, (name, clean, wb) in enumerate(frames(shared)):
        rows = []
        for ratio in RATIOS:
            for draw in range(DRAWS):
                rng = np.random.default_rng([2021, index, int(ratio), draw])
                dark = short_exposure(clean, ratio, noise_model.sample(rng, "SonyA7S2"), rng)
                rows.append({k: np.log2(v * ratio) for k, v in candidates(dark, wb).items()})
        clean_stats = candidates(clean, wb)
        out[name] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        out[name]["_clean"] = {k: float(np.log2(v)) for k, v in clean_stats.items()}
        print(f"measured {name}", file=sys.stderr)
    return out


def held_out_errors(levels, names, statistic: str) -> dict[str, np.ndarray]:
    """Signed errors in stops (+ brightens more than the truth) of each frame held out, the
    target fitted as the mean level (in stops) of the other frames."""
    out = {}
    for name in names:
        target = float(np.mean([levels[n]["_clean"][statistic] for n in names if n != name]))
        out[name] = target - levels[name][statistic]
    return out


def nested_errors(levels, names) -> tuple[dict[str, np.ndarray], list[str]]:
    """Leave one frame out with the statistic chosen too on the other frames only: the grid cell
    on which they agree best (least spread), then its target; the honest held-out error."""
    grid = [grid_name(s, c) for s in SIGMAS for c in CLIPS]
    out, chosen = {}, []
    for name in names:
        others = [n for n in names if n != name]
        best = min(grid, key=lambda g: np.ptp([levels[n]["_clean"][g] for n in others]))
        target = float(np.mean([levels[n]["_clean"][best] for n in others]))
        out[name] = target - levels[name][best]
        chosen.append(f"{name} held out: {best}")
    return out, chosen


def summary(errors: dict[str, np.ndarray]) -> str:
    err = np.abs(np.concatenate(list(errors.values())))
    return f"{np.median(err):.2f} / {np.max(err):.2f}"


def main() -> None:
    from napari_darkvision.core.exposure import AUTO_TARGET

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    shared = Path(parser.parse_args().shared)
    if not (shared / "raw").is_dir():
        sys.exit(f"needs the shared raws at {shared / 'raw'}")
    levels = measure(shared)
    metered = [n for n in METERED if n in levels]
    every = list(levels)
    lines = ["Whole frames (true ratio = the darkening factor):"]
    lines += [f"  {n:20s} {FRAMES[n]}" for n in every]
    lines += [
        "",
        f"x{', x'.join(f'{r:g}' for r in RATIOS)}, {DRAWS} ELD noise draws each (Sony A7S II): "
        "|error| in stops, median / largest over frames x ratios x draws.",
        "held out: leave one frame out, target = mean level (stops) of the others; prior: target",
        "10/78 = 0.128 of white (ISO 12232), fitted on no frame; spread: max - min level, metered.",
        "",
        f"{'statistic':44s} {'held out (3 metered)':>21s} {'held out (all 4)':>17s} "
        f"{'prior (3 metered)':>18s} {'spread':>7s}",
    ]
    for statistic in next(iter(levels.values()))["_clean"]:
        prior = {n: np.log2(ISO_PRIOR) - levels[n][statistic] for n in metered}
        spread = np.ptp([levels[n]["_clean"][statistic] for n in metered])
        lines.append(
            f"{statistic:44s} {summary(held_out_errors(levels, metered, statistic)):>21s} "
            f"{summary(held_out_errors(levels, every, statistic)):>17s} {summary(prior):>18s} {spread:7.2f}"
        )
    nested, chosen = nested_errors(levels, metered)
    lines += ["", f"nested (statistic chosen from the grid on the other frames too): {summary(nested)}"]
    lines += [f"  {c}" for c in chosen]
    fitted = 2 ** np.mean([levels[n]["_clean"][SHIPPED] for n in metered])
    lines += [
        "",
        f"shipped target, fitted on the {len(metered)} metered frames: {fitted:.4f} (core/exposure.py "
        f"AUTO_TARGET = {AUTO_TARGET:g})",
        "shipped rule: signed error (+ brighter than the truth), median over draws, "
        "with the frame held out / at AUTO_TARGET",
    ]
    held = held_out_errors(levels, metered, SHIPPED)
    for name in every:
        per_ratio = lambda e: " ".join(  # noqa: E731
            f"x{r:g} {np.median(x):+.2f}" for r, x in zip(RATIOS, e.reshape(len(RATIOS), DRAWS), strict=True)
        )
        held_text = per_ratio(held[name]) if name in held else "(not metered)"
        shipped_text = per_ratio(np.log2(AUTO_TARGET) - levels[name][SHIPPED])
        lines.append(f"  {name:20s} held out: {held_text:32s} shipped: {shipped_text}")
    lines += ["", sample_line(AUTO_TARGET)]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(__file__).with_suffix(".txt").write_text(text)


def sample_line(target: float) -> str:
    """The bundled sample: a 1600 x 1200 centre crop of the HERO7 frame darkened x100 (not a
    whole frame, so not metered truth; shown as the first thing a user tries)."""
    from napari_darkvision.core.exposure import estimate_ratio
    from napari_darkvision.core.raw import read_raw

    ratio, _ = estimate_ratio(read_raw(ROOT / "src/napari_darkvision/sample_data/gopro_dark_x100.dng"))
    return f"bundled sample (a crop, true x100, not metered truth): auto x{ratio:.0f}, {np.log2(ratio / 100):+.2f} stops"


if __name__ == "__main__":
    main()

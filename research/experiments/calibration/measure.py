"""What a camera profile buys: release 5 on the shots of a test camera with a known fixed pattern,
without a profile, with profiles from 2, 4, 8 and 16 dark frames, and on the same shots (same
noise) without the pattern; BM3D (given the true noise) alike.

    python research/experiments/calibration/measure.py [../shared] [--photos 6] [--crop 256] [--no-bm3d]

The test camera: the training synthesis (unprocessed validation photos, training/datasets.py's
split; smooth synthetic scenes where ../shared/photos is absent) with the Sony A7S II's calibrated
noise (training/synth.py: shot noise, Tukey-lambda read noise, row noise, whole DN) at one gain,
plus a fixed pattern: a dark shading (amp glow of 4 DN in a corner, a 2 DN vertical gradient),
column offsets of 1 DN rms, hot pixels (one in 2,000, 50-1,000 DN), and a true black level 2 DN
above its metadata's. Dark frames come from the same sensor with no light. Writes results.json
and results.md beside this script.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np

from napari_darkvision.core.calibration import apply_profile, calibrate, network_noise
from napari_darkvision.core.model import load_model
from napari_darkvision.core.progress import run_to_end
from napari_darkvision.core.raw import RawImage, mosaic_from_packed, pack
from napari_darkvision.core.render import quick_render
from napari_darkvision.core.tiling import run_tiled
from napari_darkvision.training.datasets import list_photos, load_photo, split_photos
from napari_darkvision.training.evaluate import bm3d_denoise
from napari_darkvision.training.metrics import psnr
from napari_darkvision.training.synth import (
    ELD_BLACK,
    ELD_WHITE,
    NoiseModel,
    random_look,
    short_exposure,
    unprocess,
)
from napari_darkvision.training.train import default_noise_file

RATIOS = (100, 250, 300)
FRAME_COUNTS = (2, 4, 8, 16)
HERE = Path(__file__).resolve().parent
BLACK_OFFSET = 2.0  # DN: the true black level above the metadata's


def scenes(shared: Path, count: int, crop: int, rng: np.random.Generator):
    """(name, clean packed (4, crop/2, crop/2), look) per scene."""
    folder = shared / "photos"
    if folder.is_dir():
        _, val = split_photos(list_photos(folder))
        for path in val[:count]:
            image = load_photo(path)
            h, w = image.shape[:2]
            y, x = (h - crop) // 2, (w - crop) // 2
            look = random_look(rng)
            yield (
                path.stem,
                unprocess(image[y : y + crop, x : x + crop].astype(np.float32) / 255.0, look),
                look,
            )
        return
    yy, xx = np.mgrid[0:crop, 0:crop] / crop
    for i in range(count):
        phase = rng.uniform(0, 6, 3)
        rgb = 0.45 + 0.4 * np.sin(14 * xx[..., None] + 9 * yy[..., None] * (i + 1) + phase)
        look = random_look(rng)
        yield f"synthetic{i}", unprocess(np.clip(rgb, 0, 1).astype(np.float32), look), look


class Sensor:
    """The test camera: one noise draw (one ISO) and one fixed pattern, on a crop x crop mosaic."""

    def __init__(self, crop: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        model = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
        cal = model.eld["SonyA7S2"]
        self.noise = model.eld_params("SonyA7S2", rng, K=float(np.sqrt(cal["Kmin"] * cal["Kmax"])))
        yy, xx = np.mgrid[0:crop, 0:crop] / crop
        shading = 4.0 * np.exp(-((xx - 1.0) ** 2 + yy**2) / 0.12) + 2.0 * yy
        self.pattern = ELD_BLACK + BLACK_OFFSET + shading + rng.normal(0.0, 1.0, crop)[None, :]
        hot = rng.choice(crop * crop, size=crop * crop // 2000, replace=False)
        self.pattern.ravel()[hot] += rng.uniform(50.0, 1000.0, hot.size)
        self.shading_pp, self.hot = float(np.ptp(shading)), int(hot.size)

    def raw(self, clean: np.ndarray, ratio: float, rng, look=None, pattern: bool = True) -> RawImage:
        """The short exposure of `clean` (packed) as the camera records it, or (pattern=False)
        as an ideal sensor with the metadata's black level would record the same noise."""
        dn = mosaic_from_packed(short_exposure(clean, ratio, self.noise, rng), "RGGB") * self.noise.white
        dn += self.pattern if pattern else ELD_BLACK
        wb = tuple(look.wb) if look is not None else (2.0, 1.0, 1.5, 1.0)
        return RawImage(
            mosaic=np.clip(np.rint(dn), 0, ELD_WHITE).astype(np.uint16), cfa="RGGB",
            black_level=(ELD_BLACK,) * 4, white_level=ELD_WHITE, camera_wb=wb,
            rgb_from_camera=look.rgb_from_camera if look is not None else np.eye(3),
            iso=12800.0, exposure_time=1 / 30, make="Test", model="Sensor",
        )  # fmt: skip

    def darks(self, n: int, shape, rng) -> list[RawImage]:
        return [self.raw(np.zeros(shape, np.float32), 100.0, rng) for _ in range(n)]


def network(model, raw: RawImage, ratio: float, profile=None) -> np.ndarray:
    if profile is None:
        return run_to_end(run_tiled(model, pack(raw, ratio=ratio)))
    corrected, noise = apply_profile(raw, profile)
    packed = pack(corrected, ratio=ratio)
    return run_to_end(run_tiled(model, packed, noise=network_noise(noise, ratio, packed)))


def bm3d(raw: RawImage, ratio: float, sensor: Sensor, profile=None) -> np.ndarray:
    shot = raw if profile is None else apply_profile(raw, profile)[0]
    return bm3d_denoise(pack(shot, ratio=ratio), ratio, sensor.noise)


def measure(shared: Path, photos: int, crop: int, with_bm3d: bool) -> dict:
    started = time.perf_counter()
    model = load_model(device="cpu")
    sensor = Sensor(crop)
    rng = np.random.default_rng(7)
    items = list(scenes(shared, photos, crop, rng))
    shape = items[0][1].shape
    all_darks = sensor.darks(max(FRAME_COUNTS), shape, np.random.default_rng(99))
    profiles = {n: calibrate(all_darks[:n]) for n in FRAME_COUNTS}
    rows = []
    for name, clean, look in items:
        reference = quick_render(clean, look.wb, look.rgb_from_camera)
        for ratio in RATIOS:
            seed = [len(rows), ratio]
            shot = sensor.raw(clean, ratio, np.random.default_rng(seed), look)
            ideal = sensor.raw(clean, ratio, np.random.default_rng(seed), look, pattern=False)
            methods = {"release 5, no pattern": partial(network, model, ideal, ratio),
                       "release 5, no profile": partial(network, model, shot, ratio)}  # fmt: skip
            for n in FRAME_COUNTS:
                methods[f"release 5, profile {n}"] = partial(network, model, shot, ratio, profiles[n])
            if with_bm3d:
                methods["BM3D, no pattern"] = partial(bm3d, ideal, ratio, sensor)
                methods["BM3D, no profile"] = partial(bm3d, shot, ratio, sensor)
                methods["BM3D, profile 8"] = partial(bm3d, shot, ratio, sensor, profiles[8])
            for method, run in methods.items():
                out = run()
                srgb = psnr(quick_render(out, look.wb, look.rgb_from_camera), reference)
                rows.append({"scene": name, "ratio": ratio, "method": method, "psnr_srgb": srgb,
                             "psnr_raw": psnr(out, clean)})  # fmt: skip
    return {
        "command": "python research/experiments/calibration/measure.py " + str(shared) + f" --photos {photos} --crop {crop}"
        + ("" if with_bm3d else " --no-bm3d"),
        "scenes": [i[0] for i in items], "crop": crop, "machine": platform.processor() or platform.machine(),
        "sensor": {"K": sensor.noise.K, "read_sigma": sensor.noise.read_sigma, "read_lambda": sensor.noise.read_lambda,
                   "row_sigma": sensor.noise.row_sigma, "shading_peak_to_peak_dn": sensor.shading_pp,
                   "column_rms_dn": 1.0, "hot_pixels": sensor.hot, "black_offset_dn": BLACK_OFFSET},
        "profiles": {n: p.summary() for n, p in profiles.items()},
        "rows": rows, "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def summary_table(result: dict) -> str:
    methods = list(dict.fromkeys(r["method"] for r in result["rows"]))
    lines = ["| method | " + " | ".join(f"x{r} sRGB (cost)" for r in RATIOS) + " | mean raw |",
             "|---|" + "---|" * (len(RATIOS) + 1)]  # fmt: skip
    for method in methods:
        base = method.split(",")[0] + ", no pattern"
        cells = []
        for ratio in RATIOS:
            mean = np.mean(
                [r["psnr_srgb"] for r in result["rows"] if r["method"] == method and r["ratio"] == ratio]
            )
            clean = np.mean(
                [r["psnr_srgb"] for r in result["rows"] if r["method"] == base and r["ratio"] == ratio]
            )
            cells.append(f"{mean:.2f} ({clean - mean:+.2f})")
        raw = np.mean([r["psnr_raw"] for r in result["rows"] if r["method"] == method])
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {raw:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", nargs="?", default="../shared")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--no-bm3d", action="store_true")
    args = parser.parse_args()
    result = measure(Path(args.shared), args.photos, args.crop, not args.no_bm3d)
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    sensor = result["sensor"]
    text = [
        "# What a camera profile buys (release 5, test camera)",
        "",
        f"`{result['command']}` ({result['seconds']:.0f} s on {result['machine']}, one thread, while a "
        "training run used the other core: times are noisy).",
        "",
        f"{len(result['scenes'])} scenes ({', '.join(result['scenes'])}), {result['crop']} px crops; Sony A7S II "
        f"noise at K = {sensor['K']:.2f} DN/e- (read sigma {sensor['read_sigma']:.2f} DN, row sigma "
        f"{sensor['row_sigma']:.2f} DN); pattern: dark shading {sensor['shading_peak_to_peak_dn']:.1f} DN peak "
        f"to peak, columns {sensor['column_rms_dn']:.1f} DN rms, {sensor['hot_pixels']} hot pixels, black "
        f"{sensor['black_offset_dn']:+.0f} DN from the metadata. Mean sRGB PSNR (dB) per ratio; in brackets "
        "the cost against the same method on the same shots without the pattern.",
        "",
        summary_table(result),
        "",
        "Profile from 8 dark frames, as `calibrate` reports it:",
        "",
        "```",
        result["profiles"][8],
        "```",
    ]
    (HERE / "results.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()

"""Make the bundled dark sample from a real camera raw, reproducibly.

Source: ../shared/raw/HERO7_GOPR9231.DNG (GoPro HERO7 Black, Apache-2.0 / MIT, gopro/gpr), a
well-exposed daylight frame, taken as the long exposure. We crop its centre, darken it 100x in
linear raw space and add the Sony A7S II's calibrated sensor noise (ELD, Wei et al. 2020) at
ISO 3200 (K = 9.56e-4 x ISO DN/e-), then write it on the Sony's 14-bit scale (black 512, white
16383) with the GoPro's white balance and colour matrix:

- ``src/napari_darkvision/sample_data/gopro_dark_x100.dng``: the dark short exposure (shipped)
- ``sample_data/gopro_clean_reference.dng``: the clean long exposure, same crop and scale

Run from the repository root: ``python sample_data/make_sample.py [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.raw import RawImage, mosaic_from_packed, pack, read_raw
from napari_darkvision.training.synth import ELD_BLACK, ELD_WHITE, NoiseModel, short_exposure

ROOT = Path(__file__).resolve().parent.parent
RATIO = 100.0
ISO = 3200
SONY_K_PER_ISO = 9.56e-4  # ELD's Sony A7S2 calibration, DN per electron per ISO
CROP = (1200, 1600)  # rows, columns: 1.9 MP, 3.8 MB uncompressed
SEED = 2018


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = parser.parse_args()
    shared = Path(args.shared)
    source = read_raw(shared / "raw" / "HERO7_GOPR9231.DNG")
    h, w = source.mosaic.shape
    top, left = (h - CROP[0]) // 4 * 2, (w - CROP[1]) // 4 * 2  # even: keeps the RGGB phase
    crop = dataclasses.replace(source, mosaic=source.mosaic[top : top + CROP[0], left : left + CROP[1]])
    clean = np.clip(pack(crop), 0.0, 1.0)

    noise_model = NoiseModel.from_files(str(shared / "noise" / "eld_camera_params.json"))
    rng = np.random.default_rng(SEED)
    noise = noise_model.eld_params("SonyA7S2", rng, K=SONY_K_PER_ISO * ISO)
    dark = short_exposure(clean, RATIO, noise, rng)

    scale = ELD_WHITE - ELD_BLACK
    common = dict(cfa="RGGB", black_level=(ELD_BLACK,) * 4, white_level=ELD_WHITE,
                  camera_wb=source.camera_wb, rgb_from_camera=source.rgb_from_camera,
                  make="GoPro", model="HERO7 Black")  # fmt: skip
    dark_raw = RawImage(
        mosaic=mosaic_from_packed(np.rint(dark * scale + ELD_BLACK).astype(np.uint16), "RGGB"),
        iso=ISO, exposure_time=(source.exposure_time or 1 / 500) / RATIO, **common,
    )  # fmt: skip
    clean_raw = RawImage(
        mosaic=mosaic_from_packed(np.rint(clean * scale + ELD_BLACK).astype(np.uint16), "RGGB"),
        iso=ISO / RATIO * 100 if ISO / RATIO >= 1 else 100, exposure_time=source.exposure_time or 1 / 500,
        **common,
    )  # fmt: skip
    dark_path = ROOT / "src" / "napari_darkvision" / "sample_data" / "gopro_dark_x100.dng"
    clean_path = ROOT / "sample_data" / "gopro_clean_reference.dng"
    dark_path.parent.mkdir(parents=True, exist_ok=True)
    write_dng(dark_path, dark_raw)
    write_dng(clean_path, clean_raw)
    print(f"wrote {dark_path} and {clean_path}: ratio {RATIO:g}, K {noise.K:.3f}, "
          f"read sigma {noise.read_sigma:.2f} DN, mean electrons {clean.mean() * scale / RATIO / noise.K:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""The bundled sample enhanced x100 against its clean long exposure, both rendered as the product renders
(run from the repository root: python research/experiments/sample_psnr.py)."""

import numpy as np

import napari_darkvision as dv
from napari_darkvision.core.raw import pack, unpack
from napari_darkvision.core.render import render
from napari_darkvision.training.metrics import psnr

raw = dv.read_raw("src/napari_darkvision/sample_data/gopro_dark_x100.dng")
clean = dv.read_raw("sample_data/gopro_clean_reference.dng")
reference = render(clean, clean.mosaic).astype(np.float32) / 65535
plain = render(raw, unpack(pack(raw, ratio=100), raw)).astype(np.float32) / 65535
for precision in ("float32",):
    image = dv.enhance(raw, ratio=100, precision=precision).astype(np.float32) / 65535
    print(
        precision,
        "ours",
        round(psnr(image, reference), 2),
        "plain",
        round(psnr(plain, reference), 2),
        "mean err levels",
        round(float(np.abs(image - reference).mean() * 255), 2),
    )

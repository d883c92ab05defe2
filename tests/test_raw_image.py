"""RawImage built by hand or rebuilt from a layer's metadata is checked like a file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import synthetic_raw
from napari_darkvision.core.raw import RawImage


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mosaic": np.zeros((256, 384), np.uint16)}, "no image data"),
        ({"mosaic": np.full((16, 16), 600, np.uint16)}, "no usable image"),
        ({"mosaic": np.zeros((0, 0), np.uint16)}, "no usable image"),
        ({"mosaic": np.full((3, 64, 64), 600, np.uint16)}, "2-D"),
        ({"mosaic": np.full((64, 64), 60, np.uint8)}, "8-bit"),
        ({"mosaic": np.full((64, 64), 0.5)}, "float64"),
        ({"cfa": "RGBG"}, "colour filter layout"),
        ({"white_level": 400.0}, "at or above its white level"),
        ({"camera_wb": (float("nan"), 1.0, 1.5, 1.0)}, "finite"),
        ({"camera_wb": (0.0, 1.0, 1.5, 1.0)}, "positive"),
        ({"rgb_from_camera": np.eye(2)}, "3x3"),
    ],
)
def test_hand_built_raw_images_are_validated(change, message):
    from napari_darkvision import enhance

    raw = dataclasses.replace(synthetic_raw(), **change)
    with pytest.raises(dv.RawReadError, match=message):
        enhance(raw, ratio="auto")


@pytest.mark.parametrize(
    "key, value",
    [("white_level", "abc"), ("white_level", None), ("black_level", "xy"), ("camera_wb", [1, 2])],
)
def test_damaged_layer_metadata_is_a_clear_error(key, value):
    raw = synthetic_raw()
    meta = raw.metadata() | {key: value}
    with pytest.raises(dv.RawReadError, match="white level|black levels|white balance"):
        RawImage.from_metadata(raw.mosaic, meta)

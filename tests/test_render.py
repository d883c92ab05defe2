"""Rendering through LibRaw, the quick renderer and the stretch."""

import dataclasses

import numpy as np
import pytest
import rawpy

from helpers import real_raw, synthetic_raw
from napari_darkvision.core.raw import pack, read_raw, unpack
from napari_darkvision.core.render import LIBRAW_OPTIONS, quick_render, render, stretch

#: Committed in tests/data/raw (the shared copy is the same file).
CHART = real_raw("colorchart.dng")
needs_chart = pytest.mark.skipif(CHART is None, reason="colorchart.dng absent")


@needs_chart
def test_colour_chart_renders_exactly_as_libraw_does():
    raw = read_raw(CHART)
    ours = render(raw, unpack(pack(raw), raw))
    with rawpy.imread(str(CHART)) as handle:
        reference = handle.postprocess(**LIBRAW_OPTIONS)
    assert ours.shape == reference.shape and ours.dtype == np.uint16
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 2.0


@needs_chart
def test_rendering_without_the_file_matches_rendering_from_it():
    raw = read_raw(CHART)
    from_file = render(raw, raw.mosaic, sensor_orientation=True).astype(np.float64)
    orphan = dataclasses.replace(raw, path="")
    from_dng = render(orphan, raw.mosaic, sensor_orientation=True).astype(np.float64)
    assert from_dng.shape == from_file.shape
    # per-channel means agree within 1.5 %: same white balance and colour matrix
    ratio = from_dng.reshape(-1, 3).mean(0) / from_file.reshape(-1, 3).mean(0)
    assert np.all(np.abs(ratio - 1) < 0.015), ratio


@needs_chart
def test_quick_render_matches_libraw_colours_on_the_chart():
    raw = read_raw(CHART)
    quick = quick_render(np.clip(pack(raw), 0, 1), raw.camera_wb, raw.rgb_from_camera)
    libraw = render(raw, raw.mosaic, sensor_orientation=True).astype(np.float32) / 65535
    half = libraw[: 2 * quick.shape[0], : 2 * quick.shape[1]]
    half = half.reshape(quick.shape[0], 2, quick.shape[1], 2, 3).mean(axis=(1, 3))

    # compare the colour (chromaticity) of 16x16 blocks, not pixels: the demosaic differs, and
    # LibRaw lowers its white point to the brightest pixel when that is over 75 % of white
    def chroma(a):
        h, w = a.shape[0] // 16 * 16, a.shape[1] // 16 * 16
        blocks = a[:h, :w].reshape(h // 16, 16, w // 16, 16, 3).mean(axis=(1, 3))
        return blocks / (blocks.sum(axis=-1, keepdims=True) + 1e-3)

    assert np.abs(chroma(quick) - chroma(half)).mean() < 0.01


def test_render_of_a_synthetic_raw_has_full_size_and_the_white_balance():
    raw = synthetic_raw("GRBG", shape=(64, 96))
    flat = np.full((4, 32, 48), 0.2, np.float32)
    rgb = render(raw, unpack(flat, raw), sensor_orientation=True)
    assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint16
    centre = rgb[8:-8, 8:-8].reshape(-1, 3).mean(0)
    assert centre[0] > centre[1] > 0  # red gain 2 > green 1


def test_stretch_maps_percentiles_to_full_range_and_keeps_colour_balance():
    rng = np.random.default_rng(0)
    image = (rng.uniform(0.1, 0.3, (64, 64, 3)) * np.array([1.0, 0.8, 0.6]) * 65535).astype(np.uint16)
    out = stretch(image)
    assert out.dtype == np.uint16
    assert out.max() == 65535 and out.min() == 0
    assert out[..., 0].mean() > out[..., 1].mean() > out[..., 2].mean()
    flat = np.full((8, 8, 3), 1000, np.uint16)
    assert np.array_equal(stretch(flat), flat)  # nothing to stretch: unchanged
    floats = stretch(image.astype(np.float32) / 65535)
    assert floats.dtype == np.float32 and floats.max() == pytest.approx(1.0)

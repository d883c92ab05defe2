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
    # LibRaw renders at half the data (one value per Bayer quad) here but demosaics there
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


def grey_ramp_raw(levels: np.ndarray, width: int = 8, white: float = 16383.0, black: float = 512.0):
    """A neutral scene (white balance 1, the sRGB primaries) of vertical stripes, one per level
    (linear, 1 = white), `width` packed pixels wide each."""
    from napari_darkvision.core.raw import RawImage, mosaic_from_packed

    packed = np.repeat(np.asarray(levels), width)[None, None, :].repeat(16, axis=1).repeat(4, axis=0)
    mosaic = mosaic_from_packed(np.round(black + packed * (white - black)).astype(np.uint16), "RGGB")
    return RawImage(mosaic=mosaic, cfa="RGGB", black_level=(black,) * 4, white_level=white,
                    camera_wb=(1.0, 1.0, 1.0, 1.0))  # fmt: skip


#: Shadows densely (where every pixel of a dark shot lives, and where BT.709 and sRGB differ most).
RAMP = np.concatenate([[0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008], np.linspace(0.01, 0.95, 30)])


def test_a_grey_ramp_renders_on_the_srgb_curve():
    """LibRaw with our options writes IEC 61966-2-1 sRGB (within 0.15 of an 8-bit level), and
    so does the quick renderer; LibRaw's default curve (BT.709) is caught, up to 16 levels off."""
    from napari_darkvision.core.render import srgb_curve

    raw = grey_ramp_raw(RAMP)
    want = srgb_curve(RAMP)[:, None] * 255
    centres = np.arange(len(RAMP)) * 16 + 8  # sensor columns: 8 packed pixels a stripe

    def stripes() -> np.ndarray:
        rgb = render(raw, raw.mosaic, sensor_orientation=True).astype(np.float64)
        return rgb[8:-8].mean(axis=0)[centres] / 65535 * 255

    assert np.abs(stripes() - want).max() < 0.15  # whole DN: 0.2 levels a DN at the toe
    quick = quick_render(np.clip(pack(raw), 0, 1), raw.camera_wb, raw.rgb_from_camera)
    assert np.abs(quick[8].astype(np.float64)[centres // 2] * 255 - want).max() < 0.15
    with rawpy.imread(_dng_of(raw)) as handle:
        bt709 = handle.postprocess(**{**LIBRAW_OPTIONS, "gamma": (2.222, 4.5)}).astype(np.float64)
    assert np.abs(bt709[8:-8].mean(axis=0)[centres] / 65535 * 255 - want).max() > 10


def _dng_of(raw) -> str:
    import tempfile

    from napari_darkvision.core.dng import write_dng

    path = tempfile.mkstemp(suffix=".dng")[1]
    write_dng(path, raw)
    return path


def bright_scene(white: float = 16383.0, black: float = 512.0):
    """A scene whose brightest pixel lies at 0.85 of white (above LibRaw's default 0.75), and where
    to push one pixel to white."""
    from napari_darkvision.core.raw import RawImage, mosaic_from_packed

    yy, xx = np.mgrid[0:64, 0:96]
    packed = np.stack([0.05 + 0.8 * xx / 95 * (0.6 + 0.4 * np.cos(yy / 9) ** 2)] * 4)
    mosaic = mosaic_from_packed(np.round(black + packed * (white - black)).astype(np.uint16), "RGGB")
    return RawImage(mosaic=mosaic, cfa="RGGB", black_level=(black,) * 4, white_level=white,
                    camera_wb=(1.8, 1.0, 1.4, 1.0))  # fmt: skip


def brightness_change(before: np.ndarray, after: np.ndarray, y: int, x: int) -> float:
    """Relative change of the mean of two renderings, away (16 pixels) from (y, x)."""
    keep = np.ones(before.shape[:2], bool)
    keep[max(0, y - 16) : y + 16, max(0, x - 16) : x + 16] = False
    return float(after[keep].astype(np.float64).mean() / before[keep].astype(np.float64).mean() - 1)


def test_the_brightness_does_not_follow_the_brightest_pixel(monkeypatch):
    """One pixel pushed to white leaves the rest of the rendering as it was (the metadata's white
    level); with LibRaw's default threshold (0.75) the rest darkens by about 7 %."""
    from napari_darkvision.core import render as render_module

    raw = bright_scene()
    pushed = raw.mosaic.copy()
    pushed[40, 20] = raw.white_level
    change = brightness_change(render(raw, raw.mosaic, True), render(raw, pushed, True), 40, 20)
    assert abs(change) < 0.002, change
    monkeypatch.setitem(render_module.LIBRAW_OPTIONS, "adjust_maximum_thr", 0.75)
    change = brightness_change(render(raw, raw.mosaic, True), render(raw, pushed, True), 40, 20)
    assert change < -0.05, change

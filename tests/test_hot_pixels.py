"""Hot and stuck pixels found blind and replaced before the network."""

import numpy as np

from helpers import synthetic_raw
from napari_darkvision.core import hot_pixels
from napari_darkvision.core.hot_pixels import replace_hot_pixels
from napari_darkvision.core.raw import channel_positions


def _noisy_scene(shape=(4, 300, 400), sigma=0.03, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    scene = 0.25 + 0.15 * np.sin(xx / 7.0) * np.cos(yy / 11.0)  # texture, as photos have
    return (scene[None] + rng.normal(0.0, sigma, shape)).astype(np.float32), (0.0, sigma**2)


def test_hot_pixels_are_replaced_and_nothing_else_is():
    image, noise = _noisy_scene()
    clean = image.copy()
    rng = np.random.default_rng(1)
    where = (rng.integers(0, 4, 60), rng.integers(0, 300, 60), rng.integers(0, 400, 60))
    where[1][:4] = [0, 255, 256, 299]  # image edges and the edges of the bands examined
    image[where] = rng.uniform(0.8, 1.0, 60)
    fixed, count = replace_hot_pixels(image, noise)
    assert count == len(set(zip(*where, strict=True)))
    assert np.abs(fixed - clean)[where].max() < 0.15
    untouched = np.ones(image.shape, bool)
    untouched[where] = False
    assert np.array_equal(fixed[untouched], image[untouched])


def test_light_from_the_scene_is_kept():
    image, noise = _noisy_scene()
    image[:, 100, 200] = 1.0  # a star: bright in every colour at one place
    image[:, 50:52, 70:72] = 0.9  # a small specular highlight
    fixed, count = replace_hot_pixels(image, noise)
    assert count == 0 and np.array_equal(fixed, image)


def test_noise_alone_is_left_alone_even_at_x300():
    image, noise = _noisy_scene(sigma=0.12, seed=3)
    fixed, count = replace_hot_pixels(image, noise)
    assert count == 0 and fixed is image


def test_enhance_turns_no_hot_pixel_into_a_blob(monkeypatch):
    from napari_darkvision import enhance_steps
    from napari_darkvision.core.progress import run_to_end

    raw = synthetic_raw(shape=(256, 384))
    mosaic = raw.mosaic.copy()
    rng = np.random.default_rng(4)
    red = channel_positions(raw.cfa)[0]
    rows, cols = 2 * rng.integers(4, 124, 12) + red[0], 2 * rng.integers(4, 188, 12) + red[1]
    mosaic[rows, cols] = 3000  # hot red pixels, hundreds of DN above the scene
    hot = raw.__class__(**{**raw.__dict__, "mosaic": mosaic})
    reference = run_to_end(enhance_steps(raw, ratio=100)).mosaic.astype(float)
    results = {}
    for enabled in (True, False):
        result = run_to_end(enhance_steps(hot, ratio=100, hot_pixels=enabled))
        results[enabled] = np.abs(result.mosaic.astype(float) - reference)
        assert result.metadata["hot_pixels_replaced"] == (12 if enabled else 0)
    near = np.zeros(mosaic.shape, bool)
    for r, c in zip(rows, cols, strict=True):
        near[r - 4 : r + 5, c - 4 : c + 5] = True
    assert results[True][near].mean() < 0.2 * results[False][near].mean()
    assert hot_pixels.BAND_ROWS >= 3

"""The synthetic pair generator: unprocessing and the physics-based noise model."""

import json
from importlib import resources

import numpy as np
import pytest

from napari_darkvision.training.noise_model import NoiseModel, _tukey_variance, short_exposure
from napari_darkvision.training.synth import make_pair
from napari_darkvision.training.unprocess import CameraLook, process, random_look, unprocess

ELD = str(resources.files("napari_darkvision.training") / "data" / "eld_camera_params.json")


@pytest.fixture(scope="module")
def noise_model():
    return NoiseModel.from_files(ELD)


def test_variance_against_mean_has_slope_K_and_read_noise_intercept(noise_model):
    rng = np.random.default_rng(0)
    params = noise_model.eld_params("SonyA7S2", rng, K=2.0)
    params.row_sigma = 0.0  # row noise is per row: measured separately below
    levels = np.linspace(5, 400, 12)  # DN above black
    means, variances = [], []
    for level in levels:
        flat = np.full((4, 256, 256), level / params.white, dtype=np.float32)
        noisy = short_exposure(flat, 1.0, params, rng) * params.white
        means.append(noisy.mean())
        variances.append(noisy.var())
    slope, intercept = np.polyfit(means, variances, 1)
    expected_intercept = params.read_variance()  # row noise is 0 here
    assert expected_intercept == pytest.approx(
        params.read_sigma**2 * _tukey_variance(params.read_lambda) + 1 / 12
    )
    assert slope == pytest.approx(2.0, rel=0.05)
    assert intercept == pytest.approx(expected_intercept, rel=0.15, abs=0.5)


def test_row_noise_is_shared_along_a_sensor_row(noise_model):
    rng = np.random.default_rng(1)
    params = noise_model.eld_params("SonyA7S2", rng, K=4.0)
    params.row_sigma, params.read_sigma = 5.0, 0.01
    noisy = short_exposure(np.zeros((4, 64, 512), np.float32), 1.0, params, rng) * params.white
    row_means = noisy[0].mean(axis=1)
    assert row_means.std() > 3.0  # whole rows move together
    assert np.allclose(noisy[0].mean(axis=1), noisy[1].mean(axis=1), atol=0.5)  # R and G1 share rows


def test_noise_model_gain_range_follows_the_calibration(noise_model):
    rng = np.random.default_rng(2)
    gains = [noise_model.eld_params("SonyA7S2", rng).K for _ in range(300)]
    with open(ELD) as f:
        cal = json.load(f)["SonyA7S2"]
    assert cal["Kmin"] <= min(gains) and max(gains) <= cal["Kmax"]
    assert np.log(max(gains) / min(gains)) > 0.8 * np.log(cal["Kmax"] / cal["Kmin"])


def test_other_cameras_are_no_darker_than_the_sid_camera(noise_model):
    rng = np.random.default_rng(3)
    sony_top = noise_model.eld["SonyA7S2"]["Kmax"]
    draws = [noise_model.sample(rng) for _ in range(400)]
    assert {d.camera for d in draws} - {"SonyA7S2"}  # the other cameras are drawn
    assert max(d.K for d in draws) <= sony_top


def test_process_inverts_unprocess_per_channel():
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0.05, 0.85, size=(64, 64, 3)).astype(np.float32)
    rgb = np.repeat(np.repeat(rgb[::2, ::2], 2, 0), 2, 1)  # constant 2x2 blocks: no demosaic error
    for _ in range(5):
        look = random_look(rng)
        back = process(unprocess(rgb, look), look)
        for c in range(3):
            assert np.abs(back[..., c] - rgb[::2, ::2, c]).mean() < 0.01, c


def test_unprocessed_colour_statistics_cover_real_cameras():
    rng = np.random.default_rng(4)
    looks = [random_look(rng) for _ in range(200)]
    reds = [look.wb[0] for look in looks]
    blues = [look.wb[2] for look in looks]
    # the shared real raws have red gains 1.77-2.48 and blue gains 1.45-1.99
    assert min(reds) < 1.77 and max(reds) > 2.48
    assert min(blues) < 1.45 and max(blues) > 1.99


def test_pairs_are_deterministic_for_a_seed(noise_model):
    clean = unprocess(
        np.full((32, 32, 3), 0.5, np.float32), CameraLook(np.array([2, 1, 1.5, 1.0]), np.eye(3))
    )
    look = CameraLook(np.array([2, 1, 1.5, 1.0]), np.eye(3))
    a = make_pair(clean, look, noise_model, np.random.default_rng(7))
    b = make_pair(clean, look, noise_model, np.random.default_rng(7))
    c = make_pair(clean, look, noise_model, np.random.default_rng(8))
    assert np.array_equal(a.noisy, b.noisy) and a.ratio == b.ratio
    assert not np.array_equal(a.noisy, c.noisy)


def test_short_exposure_is_unbiased_and_amplified_input_is_clipped(noise_model):
    rng = np.random.default_rng(5)
    params = noise_model.eld_params("SonyA7S2", rng, K=1.0)
    clean = np.full((4, 128, 128), 0.2, np.float32)
    pair = make_pair(clean, random_look(rng), noise_model, rng, ratio=100.0, camera="SonyA7S2")
    assert pair.noisy.max() <= 1.0
    short = short_exposure(clean, 100.0, params, rng)
    assert short.mean() * 100 == pytest.approx(0.2, rel=0.03)


def test_sensor_defects_are_deterministic_per_seed_and_do_what_they_say():
    from napari_darkvision.training.defects import DEFECTS, SensorDefects, add_defects
    from napari_darkvision.training.noise_model import ELD_BLACK, ELD_WHITE, NoiseParams

    noise = NoiseParams(
        "test",
        K=1.0,
        read_sigma=2.0,
        read_lambda=None,
        row_sigma=0.0,
        white=ELD_WHITE - ELD_BLACK,
        black=ELD_BLACK,
    )
    short = np.full((4, 64, 96), 40.0 / noise.white, np.float32)
    for name in DEFECTS:
        defects = SensorDefects.only(name)
        a = add_defects(short, noise, defects, np.random.default_rng(5))
        b = add_defects(short, noise, defects, np.random.default_rng(5))
        c = add_defects(short, noise, defects, np.random.default_rng(6))
        assert np.array_equal(a, b) and (name == "12-bit" or not np.array_equal(a, c)), name
    dn = add_defects(short, noise, SensorDefects(hot_fraction=0.01), np.random.default_rng(1)) * noise.white
    assert 0.005 < np.mean(dn > 60) < 0.02
    dn = add_defects(short, noise, SensorDefects(column_sigma=2.0), np.random.default_rng(1)) * noise.white
    assert np.allclose(dn[0], dn[0, :1]) and 1.0 < dn[0, 0].std() < 3.0  # constant down a column
    assert np.array_equal(dn[0], dn[3]) and np.array_equal(dn[1], dn[2])  # shared sensor columns
    odd = short + 1.0 / noise.white
    dn = add_defects(odd, noise, SensorDefects(bits=12), np.random.default_rng(1)) * noise.white
    assert np.allclose(np.round(dn) % 4, 0)
    dn = add_defects(short, noise, SensorDefects(stuck_fraction=0.01), np.random.default_rng(1)) * noise.white
    assert 0.005 < np.mean(dn >= noise.white) < 0.02

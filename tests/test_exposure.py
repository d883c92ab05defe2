"""The "auto" ratio (core/exposure.py): metered like a camera, on synthetic and real frames."""

import dataclasses

import numpy as np
import pytest

from helpers import SHARED_RAW, TEST_RAW
from napari_darkvision.core.exposure import AUTO_TARGET, MAX_RATIO, estimate_ratio, metered_level
from napari_darkvision.core.raw import RawImage, mosaic_from_packed, pack, read_raw

BLACK, WHITE = 512.0, 16383.0
#: the goal on held-out camera-metered frames (model card, "The auto exposure ratio")
TOLERANCE_STOPS = 0.75


def scene(sky: float = 0.0, lamp: float = 0.0, seed: int = 0) -> np.ndarray:
    """A packed (4, 240, 320) grey-world scene in relative luminance: textured ground of mean 1,
    the top `sky` of the frame at 4x the ground, a `lamp` fraction of the frame at 1000x."""
    rng = np.random.default_rng(seed)
    h, w = 240, 320
    luminance = np.exp(rng.normal(0.0, 0.7, (h // 8, w // 8)))
    luminance = np.kron(luminance / luminance.mean(), np.ones((8, 8)))
    if sky:
        luminance[: int(h * sky)] = 4.0
    if lamp:
        side = int(np.sqrt(lamp * h * w))
        luminance[h // 2 : h // 2 + side, w // 3 : w // 3 + side] = 1000.0
    return np.repeat(luminance[None], 4, axis=0)


def frame(packed: np.ndarray, exposure: float, ratio: float, seed: int = 1) -> RawImage:
    """The short exposure, `ratio` times shorter than the one that records `exposure` x the
    scene's luminance as the fraction of white: shot and read noise, clipped at white."""
    rng = np.random.default_rng(seed)
    signal = np.clip(packed * exposure / ratio, 0.0, 1.0)
    electrons = rng.poisson(signal * (WHITE - BLACK) / 2.0)  # 2 DN per electron
    dn = electrons * 2.0 + rng.normal(0.0, 3.0, packed.shape) + BLACK
    mosaic = mosaic_from_packed(np.clip(np.rint(dn), 0, WHITE).astype(np.uint16), "RGGB")
    return RawImage(
        mosaic=mosaic, cfa="RGGB", black_level=(BLACK,) * 4, white_level=WHITE, camera_wb=(1.0,) * 4
    )


def stops_off(raw: RawImage, true_ratio: float) -> float:
    return float(np.log2(estimate_ratio(raw)[0] / true_ratio))


def test_a_frame_metered_to_the_target_is_brought_back_by_the_darkening_factor():
    # a meter puts the frame's (even) ground, of mean 1, at the target
    for ratio in (100, 300):
        assert abs(stops_off(frame(scene(), AUTO_TARGET, ratio), ratio)) < 0.1


def test_a_light_source_does_not_darken_the_frame():
    # 2 % of the frame at 1000x the ground, clipped at white in the dark frame: the frame's mean
    # rises by over 3 stops; blocks count at most CLIP_STOPS above the median
    plain = frame(scene(), AUTO_TARGET, 100)
    lit = frame(scene(lamp=0.02), AUTO_TARGET, 100)
    assert np.log2(pack(lit, clip=False).mean() / pack(plain, clip=False).mean()) > 3.0
    assert abs(np.log2(estimate_ratio(lit)[0] / estimate_ratio(plain)[0])) < 0.5


def test_a_bright_sky_counts_as_a_camera_meter_counts_it_not_as_the_highlights():
    # a third of the frame is sky at 4x the ground, exposed as an averaging meter does (the mean
    # of the whole frame, sky included, at the target): within the 0.5-stop goal (the centre
    # weighting counts the sky at the top edge less than the meter did)
    sky = scene(sky=1 / 3)
    for ratio in (100, 250):
        assert abs(stops_off(frame(sky, AUTO_TARGET / sky.mean(), ratio), ratio)) < 0.5


def test_a_frame_mostly_at_black_is_metered_on_what_it_shows():
    # three quarters of the frame at black (a night sky): the median is noise, and a clip at
    # the median would meter the noise (the largest ratio, whatever the lit quarter shows)
    night = scene()
    night[:, :180] = 0.0
    ratio, reason = estimate_ratio(frame(night, AUTO_TARGET, 100))
    assert ratio < MAX_RATIO and "black" not in reason
    assert estimate_ratio(frame(night, 2 * AUTO_TARGET, 100))[0] == pytest.approx(ratio / 2, rel=0.1)


def test_the_reason_says_how_it_metered_and_what_the_settings_mean():
    raw = dataclasses.replace(frame(scene(), AUTO_TARGET, 100), exposure_time=1 / 4000, iso=3200)
    ratio, reason = estimate_ratio(raw)
    assert "metered like a camera" in reason and f"brought to {AUTO_TARGET:g}" in reason
    assert f"1/4000 s at ISO 3200 shot as if 1/{4000 / ratio:.0f} s" in reason
    black = dataclasses.replace(raw, mosaic=np.full_like(raw.mosaic, int(BLACK)))
    assert estimate_ratio(black)[1] == "the image is black: the largest ratio"


def darkened(path, ratio: float, seed: int = 0) -> tuple[np.ndarray, float, tuple]:
    """A real whole frame darkened by `ratio` with the Sony A7S II's ELD noise (packed), the clean
    frame's metered level and its white balance."""
    from napari_darkvision.training.synth import NoiseModel, short_exposure
    from napari_darkvision.training.train import default_noise_file

    raw = read_raw(path)
    clean = np.clip(pack(raw), 0.0, 1.0)
    rng = np.random.default_rng(seed)
    noise = NoiseModel.from_files(default_noise_file("eld_camera_params.json")).sample(rng, "SonyA7S2")
    dark = short_exposure(clean, ratio, noise, rng)
    return dark, metered_level(clean, raw.camera_wb), raw.camera_wb


def test_a_real_raw_darkened_keeps_its_metered_level_through_the_noise():
    # the committed colour chart: the level of the x100 and x300 frames, amplified back, is the
    # clean frame's (within 0.1 stop), so the noise of a dark shot does not move auto
    for ratio in (100, 300):
        dark, clean_level, wb = darkened(TEST_RAW / "colorchart.dng", ratio)
        assert abs(np.log2(metered_level(dark, wb) * ratio / clean_level)) < 0.1


CAMERA_METERED = [SHARED_RAW / name for name in ("HERO7_GOPR9231.DNG", "IMG_5952.CR2")]


@pytest.mark.skipif(not all(p.is_file() for p in CAMERA_METERED), reason="the shared real raws are absent")
@pytest.mark.parametrize("path", CAMERA_METERED, ids=lambda p: p.stem)
def test_a_camera_metered_frame_darkened_x100_lands_within_the_tolerance(path):
    dark, _, wb = darkened(path, 100)
    ratio = AUTO_TARGET / metered_level(dark, wb)
    assert abs(np.log2(ratio / 100)) <= TOLERANCE_STOPS

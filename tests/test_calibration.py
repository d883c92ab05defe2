"""Camera profiles: dark frames of a test camera with a known pattern in, the pattern recovered,
removed before enhancing, and mismatched or mixed frames refused or warned about."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from napari_darkvision.core.calibration import (
    PROFILE_VERSION,
    CameraProfile,
    ProfileMismatchWarning,
    apply_profile,
    calibrate,
    load_profile,
    select_profile,
)
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.errors import CalibrationError
from napari_darkvision.core.raw import RawImage, pack

BLACK_METADATA, BLACK_TRUE, WHITE = 512.0, 514.0, 16383.0
SHAPE = (256, 384)


class SyntheticCamera:
    """A sensor with a smooth dark shading of ~4 DN, column offsets of 1 DN rms, hot pixels, a true
    black level 2 DN above its metadata, Gaussian read noise, row noise and Poisson shot noise."""

    def __init__(self, shape=SHAPE, seed=0, read=3.0, row=0.5, gain=2.0, iso=6400.0, model="Camera"):
        rng = np.random.default_rng(seed)
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        self.shape, self.read, self.row, self.gain, self.iso, self.model = shape, read, row, gain, iso, model
        self.shading = 4.0 * np.exp(-((xx - w / max(h, w)) ** 2 + yy**2) / 0.15) + 1.5 * yy
        self.columns = rng.normal(0.0, 1.0, w)
        self.hot = np.sort(rng.choice(h * w, size=h * w // 2000, replace=False))
        self.hot_value = rng.uniform(40.0, 400.0, self.hot.size)

    def pattern(self) -> np.ndarray:
        dark = BLACK_TRUE + self.shading + self.columns[None, :]
        dark.ravel()[self.hot] += self.hot_value
        return dark

    def shot(self, signal_dn=None, rng=None, pattern=True) -> RawImage:
        """A frame: dark without `signal_dn` (DN above black, per pixel); without the pattern
        (`pattern=False`) it is what an ideal sensor with the metadata's black level records."""
        rng = rng if rng is not None else np.random.default_rng()
        h, w = self.shape
        value = np.zeros(self.shape) if signal_dn is None else self.gain * rng.poisson(signal_dn / self.gain)
        value = value + rng.normal(0.0, self.read, self.shape) + rng.normal(0.0, self.row, (h, 1))
        value += self.pattern() if pattern else BLACK_METADATA
        return RawImage(mosaic=np.clip(np.rint(value), 0, WHITE).astype(np.uint16), cfa="RGGB",
                        black_level=(BLACK_METADATA,) * 4, white_level=WHITE, camera_wb=(2.0, 1.0, 1.5, 1.0),
                        iso=self.iso, exposure_time=0.1, make="Test", model=self.model)  # fmt: skip

    def darks(self, n: int, seed: int = 1) -> list[RawImage]:
        rng = np.random.default_rng(seed)
        return [self.shot(rng=rng) for _ in range(n)]


def scene(shape=SHAPE, ratio=100.0) -> np.ndarray:
    """A clean scene in [0, 1] (normalised to the white level), with edges and texture."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    clean = 0.15 + 0.1 * np.sin(xx / 11.0) * np.cos(yy / 17.0) + 0.2 * ((xx // 48 + yy // 48) % 2)
    return np.clip(clean, 0.0, 1.0)


def rms(a) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


@pytest.fixture(scope="module")
def camera():
    return SyntheticCamera()


@pytest.fixture(scope="module")
def profile(camera):
    return calibrate(camera.darks(8))


def not_hot(camera) -> np.ndarray:
    keep = np.ones(camera.shape, dtype=bool)
    keep.ravel()[camera.hot] = False
    return keep


def test_profile_recovers_the_shading(camera, profile):
    error = profile.shading() - BLACK_TRUE - camera.shading
    # what the camera has: ignoring the shading (a flat dark level) misses by about 1 DN rms
    assert rms(camera.shading - camera.shading.mean()) > 0.8
    assert rms(error[not_hot(camera)]) < 0.3


def test_profile_recovers_the_column_offsets(camera, profile):
    truth = camera.columns - camera.columns.mean()
    assert rms(truth) > 0.9
    assert rms(profile.column_offsets - truth) < 0.3
    assert np.corrcoef(profile.column_offsets, truth)[0, 1] > 0.95


def test_profile_finds_the_hot_pixels_and_the_true_black_level(camera, profile):
    assert set(profile.hot_index.tolist()) == set(camera.hot.tolist())
    mean_dark = BLACK_TRUE + camera.shading.mean()
    assert profile.black_metadata == (BLACK_METADATA,) * 4
    assert all(abs(b - mean_dark) < 0.3 for b in profile.black_measured)
    assert all(abs(s - camera.read) < 0.15 for s in profile.read_noise_dn)
    assert abs(profile.row_noise_dn - camera.row) < 0.15


def test_whole_dark_level_and_banding_without_invented_rows(camera, profile):
    """The camera has no fixed row offsets: the rows' temporal noise must not be baked in."""
    assert rms((profile.dark_level() - camera.pattern())[not_hot(camera)]) < 0.25
    assert rms(profile.row_offsets) < 0.1


def test_applying_removes_the_pattern_and_hot_pixels(camera, profile):
    signal = scene() * (WHITE - BLACK_METADATA) / 100.0
    shot = camera.shot(signal, rng=np.random.default_rng(7))
    ideal = camera.shot(signal, rng=np.random.default_rng(7), pattern=False)
    corrected, (a, b) = apply_profile(shot, profile)
    assert corrected.mosaic.dtype == np.uint16 and corrected.shape == shot.shape
    before = (pack(shot, clip=False) - pack(ideal, clip=False)) * (WHITE - BLACK_METADATA)
    after = (pack(corrected, clip=False) - pack(ideal, clip=False)) * (WHITE - BLACK_METADATA)
    assert abs(before.mean()) > 2.0 and abs(after.mean()) < 0.1
    assert rms(after) < 0.3 * rms(before) and np.abs(after).max() < 40  # no hot pixel left
    assert a is None and b == pytest.approx((camera.read / (WHITE - corrected.black_level[0])) ** 2, rel=0.1)


def test_gain_from_flat_pairs(camera):
    rng = np.random.default_rng(3)
    flats = [camera.shot(np.full(camera.shape, level), rng=rng) for level in (300, 300, 1500, 1500)]
    profile = calibrate(camera.darks(4), flats=flats)
    assert profile.gain == pytest.approx(camera.gain, rel=0.1)
    corrected, (a, _) = apply_profile(camera.shot(rng=rng), profile)
    assert a == pytest.approx(camera.gain / (WHITE - corrected.black_level[0]), rel=0.1)


def test_mixed_frames_are_refused(camera):
    darks = camera.darks(3)
    with pytest.raises(CalibrationError, match="size"):
        calibrate(darks[:2] + [SyntheticCamera(shape=(128, 192)).darks(1)[0]])
    with pytest.raises(CalibrationError, match="camera"):
        calibrate(darks[:2] + SyntheticCamera(model="Other").darks(1))
    with pytest.raises(CalibrationError, match="ISO"):
        calibrate(darks[:2] + SyntheticCamera(iso=800).darks(1))
    with pytest.raises(CalibrationError, match="exposure"):
        calibrate(darks[:2] + [dataclasses.replace(darks[2], exposure_time=1.0)])
    with pytest.raises(CalibrationError, match="at least 2"):
        calibrate(darks[:1])


def test_mismatched_profile_is_warned_about_or_refused(camera, profile):
    other_iso = dataclasses.replace(camera.darks(1)[0], iso=3200.0)
    with pytest.warns(ProfileMismatchWarning, match="ISO 3200"):
        apply_profile(other_iso, profile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_profile(camera.darks(1)[0], profile)  # a matching shot: no warning
    small = SyntheticCamera(shape=(128, 192)).darks(1)[0]
    with pytest.raises(CalibrationError, match="calibrate this camera"):
        apply_profile(small, profile)


def test_save_load_round_trip_and_bad_files(tmp_path, profile):
    path = profile.save(tmp_path / "cam.npz")
    loaded = load_profile(path)
    assert isinstance(loaded, CameraProfile) and loaded.path == str(path.resolve())
    for name in (
        "iso",
        "exposure_time",
        "shape",
        "cfa",
        "frames",
        "black_measured",
        "read_noise_dn",
        "block",
    ):
        assert getattr(loaded, name) == getattr(profile, name), name
    np.testing.assert_array_equal(loaded.dark_level(), profile.dark_level())
    np.testing.assert_array_equal(loaded.hot_index, profile.hot_index)
    with pytest.raises(OSError, match="exists"):
        profile.save(path)
    (tmp_path / "junk.npz").write_bytes(b"not a profile")
    with pytest.raises(CalibrationError, match="not a napari-darkvision camera profile"):
        load_profile(tmp_path / "junk.npz")
    newer = dataclasses.replace(profile, version=PROFILE_VERSION + 1)
    with pytest.raises(CalibrationError, match="update napari-darkvision"):
        load_profile(newer.save(tmp_path / "newer.npz"))


def test_select_profile_by_camera_iso_and_exposure(tmp_path, camera, profile):
    dataclasses.replace(profile, iso=800.0).save(tmp_path / "iso800.npz")
    profile.save(tmp_path / "iso6400.npz")
    dataclasses.replace(profile, model="Other").save(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"x")
    shot = camera.darks(1)[0]
    assert select_profile(tmp_path, shot).path.endswith("iso6400.npz")
    assert select_profile(tmp_path, dataclasses.replace(shot, iso=1000.0)).path.endswith("iso800.npz")
    with pytest.raises(CalibrationError, match="No camera profile"):
        select_profile(tmp_path, dataclasses.replace(shot, model="Unknown"))


def packed_psnr(result, clean) -> float:
    out = pack(dataclasses.replace(result.raw, mosaic=result.mosaic))
    return float(10 * np.log10(1.0 / np.mean((out - clean) ** 2)))


def test_enhancing_with_a_profile_beats_without(tmp_path, camera, profile):
    from napari_darkvision.core.pipeline import enhance_steps, run_to_end
    from napari_darkvision.core.raw import channel_positions

    clean_mosaic = scene()
    clean = np.stack([clean_mosaic[r::2, c::2] for r, c in channel_positions("RGGB")])
    shot = camera.shot(clean_mosaic * (WHITE - BLACK_METADATA) / 100.0, rng=np.random.default_rng(11))
    plain = run_to_end(enhance_steps(shot, ratio=100, precision="float32"))
    path = profile.save(tmp_path / "cam.npz")
    calibrated = run_to_end(enhance_steps(shot, ratio=100, precision="float32", profile=str(tmp_path)))
    assert (
        calibrated.metadata["profile"] == str(path.resolve()) and not calibrated.metadata["profile_mismatch"]
    )
    gain = packed_psnr(calibrated, clean) - packed_psnr(plain, clean)
    assert gain > 1.0, gain
    with pytest.warns(ProfileMismatchWarning):
        other = run_to_end(enhance_steps(dataclasses.replace(shot, iso=3200.0), ratio=100, profile=path))
    assert "ISO 3200" in other.metadata["profile_mismatch"]


def test_cli_calibrate_and_enhance_with_profile(tmp_path, camera, capsys):
    from napari_darkvision.cli import main

    frames = []
    for i, frame in enumerate(camera.darks(4)):
        frames.append(tmp_path / f"dark{i}.dng")
        write_dng(frames[-1], frame)
    out = tmp_path / "cam.npz"
    assert main(["calibrate", *map(str, frames), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 dark frames" in printed and "hot pixels" in printed and "column banding" in printed
    assert load_profile(out).hot_index.size == camera.hot.size
    shot = tmp_path / "shot.dng"
    write_dng(shot, camera.shot(scene() * 150.0, rng=np.random.default_rng(2)))
    png = tmp_path / "shot.png"
    assert main(["enhance", str(shot), "--profile", str(out), "-o", str(png), "--ratio", "100", "-q"]) == 0
    assert png.is_file()
    small = tmp_path / "small.dng"
    write_dng(small, SyntheticCamera(shape=(128, 192)).darks(1)[0])
    assert main(["calibrate", str(frames[0]), str(small), "-o", str(tmp_path / "bad.npz")]) == 2
    assert "does not match the first frame" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()
    assert main(["enhance", str(shot), "--profile", str(tmp_path / "none.npz"), "-o", str(png)]) == 2


def test_calibrating_needs_neither_torch_nor_qt():
    import subprocess
    import sys

    code = (
        "import sys; import napari_darkvision as dv; from napari_darkvision.core import calibration; "
        "print(sorted(m for m in ('torch', 'qtpy', 'napari') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- frames that are not dark frames, profiles that do not fit (issue 23) ---------------------------


def test_frames_that_are_not_dark_are_refused_naming_the_frame(camera):
    from napari_darkvision.core.calibration import CalibrationWarning

    darks = camera.darks(3)
    bright = camera.shot(np.full(camera.shape, 2000.0), rng=np.random.default_rng(5))
    with pytest.raises(CalibrationError, match=r"^frame 3 is not a dark frame: its level is \+2\d\d\d DN"):
        calibrate([*darks[:2], bright])
    rng = np.random.default_rng(6)
    noise = dataclasses.replace(darks[0], mosaic=rng.integers(0, int(WHITE), camera.shape, dtype=np.uint16))
    with pytest.raises(CalibrationError, match="frame 2 is not a dark frame"):
        calibrate([darks[0], noise])
    over = darks[1].mosaic.copy()
    over.ravel()[rng.choice(over.size, over.size // 100, replace=False)] = int(WHITE) + 500  # above white
    with pytest.raises(
        CalibrationError, match=r"frame 2 is not a dark frame: 1\.0% of its pixels are near or above"
    ):
        calibrate([darks[0], dataclasses.replace(darks[1], mosaic=over)])
    with pytest.raises(CalibrationError, match="frame 2 is the same frame as frame 1"):
        calibrate([darks[0], darks[0], darks[1]])
    almost = darks[0].mosaic.copy()
    almost[0, 0] += 1  # distinct, but no noise between them: not two exposures
    with pytest.raises(CalibrationError, match="read noise 0.00 DN"):
        calibrate([darks[0], dataclasses.replace(darks[0], mosaic=almost)])
    hot = np.zeros(camera.shape, dtype=np.uint16)
    hot.ravel()[rng.choice(hot.size, hot.size // 30, replace=False)] = 300  # 3 % "hot": a faint picture
    with pytest.raises(CalibrationError, match=r"3\.\d% of the pixels hot"):
        calibrate([dataclasses.replace(d, mosaic=d.mosaic + hot) for d in darks])
    unknown = [dataclasses.replace(d, iso=0.0) for d in darks]
    with pytest.warns(CalibrationWarning, match="record no ISO"):
        calibrate(unknown)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrate(darks)  # real dark frames: no refusal, no warning


def test_cli_refuses_a_clean_photo_as_dark_frames_in_one_line(tmp_path, capsys):
    from pathlib import Path

    from napari_darkvision.cli import main

    reference = Path(__file__).parents[1] / "sample_data" / "gopro_clean_reference.dng"
    if not reference.is_file():
        pytest.skip("sample_data/gopro_clean_reference.dng is not in this checkout")
    out = tmp_path / "p.npz"
    assert main(["calibrate", str(reference), str(reference), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gopro_clean_reference.dng is not a dark frame" in err, err
    assert not out.exists()


def far_profile(profile, shift: float):
    """A profile whose dark level is `shift` DN above the black level of the shots it is applied to
    (and, so that it looks made from dark frames, of its own metadata)."""
    return dataclasses.replace(
        profile,
        shading_grid=profile.shading_grid + np.float32(shift),
        black_measured=tuple(b + shift for b in profile.black_measured),
        black_metadata=tuple(b + shift for b in profile.black_metadata),
    )


def test_a_profile_that_would_move_the_levels_is_refused(tmp_path, camera, profile, capsys):
    from napari_darkvision.cli import main

    shot = camera.shot(scene() * 150.0, rng=np.random.default_rng(2))
    apply_profile(shot, far_profile(profile, 40.0))  # within the tolerance (1 % of the range)
    with pytest.raises(CalibrationError, match=r"would move this shot's levels by -40\d DN"):
        apply_profile(shot, far_profile(profile, 400.0))
    silent = dataclasses.replace(profile, read_noise_dn=(0.0,) * 4)
    with pytest.raises(CalibrationError, match="not made from dark frames.*read noise 0.00"):
        apply_profile(shot, silent)
    path = far_profile(profile, 400.0).save(tmp_path / "far.npz")
    write_dng(tmp_path / "shot.dng", shot)
    png = tmp_path / "shot.png"
    args = [
        "enhance",
        str(tmp_path / "shot.dng"),
        "--profile",
        str(path),
        "-o",
        str(png),
        "--ratio",
        "100",
        "-q",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would move this shot's levels" in err, err
    assert not png.exists()


def test_a_truncated_profile_is_one_line_and_skipped_in_a_folder(tmp_path, camera, profile, capsys):
    import subprocess
    import sys

    from napari_darkvision.cli import main
    from napari_darkvision.core.calibration import ProfileSkippedWarning

    folder = tmp_path / "profiles"
    folder.mkdir()
    good = profile.save(folder / "cam.npz")
    cut = folder / "a_cut.npz"  # sorted first: it must not hide the good one
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(
        CalibrationError, match="a_cut.npz is not a napari-darkvision camera profile, or a damaged one"
    ):
        load_profile(cut)
    shot = tmp_path / "shot.dng"
    write_dng(shot, camera.shot(scene() * 150.0, rng=np.random.default_rng(2)))
    png = tmp_path / "shot.png"
    code = (
        "import sys; from napari_darkvision.cli import main; "
        f"code = main(['enhance', {str(shot)!r}, '--profile', {str(cut)!r}, '-o', {str(png)!r}]); "
        "print(code, 'torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["2", "False"], run.stdout + run.stderr  # refused before torch
    assert (
        run.stderr.count("\n") == 1
        and "a_cut.npz is not a napari-darkvision camera profile, or a damaged one" in run.stderr
    ), run.stderr
    with pytest.warns(ProfileSkippedWarning, match="a_cut.npz"):
        assert select_profile(folder, read_back(shot)).path == str(good.resolve())
    args = ["enhance", str(shot), "--profile", str(folder), "-o", str(png), "--ratio", "100", "-q"]
    with pytest.warns(ProfileSkippedWarning):
        assert main(args) == 0
    assert png.is_file()


def read_back(path):
    from napari_darkvision.core.raw import read_raw

    return read_raw(path)


def test_a_cluster_of_hot_pixels_is_filled_without_a_warning(camera, profile):
    block = np.zeros(camera.shape, dtype=bool)
    block[100:110:2, 100:110:2] = True  # 5 x 5 red pixels: the middle one has no neighbour that is not hot
    clustered = dataclasses.replace(profile, hot_index=np.union1d(profile.hot_index, np.flatnonzero(block)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice" reached the terminal
        corrected, _ = apply_profile(camera.darks(1)[0], clustered)
    assert np.isfinite(corrected.mosaic).all()

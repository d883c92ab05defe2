"""The command line."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from helpers import SAMPLE
from napari_darkvision.cli import main


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    bit_depth, colour_type = data[24], data[25]
    return width, height, bit_depth, colour_type


def test_enhance_writes_16_bit_png_and_tiff(tmp_path, make_dng, capsys):
    source, raw = make_dng("RGGB")
    before = source.read_bytes()
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.png"), "--ratio", "100", "-q"]) == 0
    assert _png_size(tmp_path / "out.png") == (raw.mosaic.shape[1], raw.mosaic.shape[0], 16, 2)
    assert "auto chose" not in capsys.readouterr().out
    assert (
        main(["enhance", str(source), "-o", str(tmp_path / "out.tif"), "--ratio", "auto", "--stretch", "-q"])
        == 0
    )
    assert "auto chose x" in (why := capsys.readouterr().out.split("\n")[1]) and "metered like" in why
    image = tifffile.imread(tmp_path / "out.tif")
    assert image.shape == raw.mosaic.shape + (3,) and image.dtype == np.uint16
    assert source.read_bytes() == before  # the input is never written


def test_never_overwrites_the_input_or_an_existing_output(tmp_path, make_dng, capsys):
    source, _ = make_dng("RGGB")
    before = source.read_bytes()
    assert main(["enhance", str(source), "-o", str(source.with_suffix(".tif")), "-q"]) == 0
    tif = source.with_suffix(".tif")
    assert main(["enhance", str(source), "-o", str(tif), "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    copy = tmp_path / "same.png"
    shutil.copy(source, copy)
    assert main(["enhance", str(copy), "-o", str(copy), "--overwrite", "-q"]) == 2
    assert copy.read_bytes() == before
    assert source.read_bytes() == before


@pytest.mark.parametrize("ratio", ["0", "-3", "nan", "1e9", "bright"])
def test_bad_ratio_is_an_error_not_a_traceback(tmp_path, make_dng, ratio, capsys):
    source, _ = make_dng("RGGB")
    assert main(["enhance", str(source), "-o", str(tmp_path / "o.png"), "--ratio", ratio, "-q"]) == 2
    assert "Ratio" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_not_a_raw_is_an_error(tmp_path, capsys):
    fake = tmp_path / "x.NEF"
    fake.write_bytes(b"\0" * 1000)
    assert main(["enhance", str(fake), "-o", str(tmp_path / "o.png"), "-q"]) == 2
    assert "x.NEF" in capsys.readouterr().err


def test_console_script_runs_on_the_sample(tmp_path):
    out = tmp_path / "sample.png"
    exe = shutil.which("napari-darkvision")
    cmd = [exe] if exe else [sys.executable, "-m", "napari_darkvision.cli"]
    result = subprocess.run(cmd + ["enhance", str(SAMPLE), "-o", str(out), "--ratio", "100"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and out.stat().st_size > 100_000


def test_train_command_offers_every_loss_and_architecture_training_knows():
    from napari_darkvision.cli import build_parser
    from napari_darkvision.core.archs import ARCHITECTURES
    from napari_darkvision.training.train import LOSSES, TrainOptions

    parser = build_parser()
    for loss in LOSSES:
        assert parser.parse_args(["train", "--out", "x", "--loss", loss]).loss == loss
    for arch in ARCHITECTURES:
        assert parser.parse_args(["train", "--out", "x", "--arch", arch]).arch == arch
    defaults = parser.parse_args(["train", "--out", "x"])
    assert (defaults.loss, defaults.arch) == (TrainOptions(out="x").loss, TrainOptions(out="x").arch)


def test_strength_blends_towards_the_amplified_input(tmp_path, make_dng, capsys):
    import napari_darkvision as dv
    from napari_darkvision.core.progress import run_to_end

    source, _ = make_dng("GBRG")
    assert main(["enhance", str(source), "-o", str(tmp_path / "bad.tif"), "--strength", "1.5", "-q"]) == 2
    assert "strength" in capsys.readouterr().err and not (tmp_path / "bad.tif").exists()
    assert (
        main(
            [
                "enhance",
                str(source),
                "-o",
                str(tmp_path / "half.tif"),
                "--ratio",
                "100",
                "--strength",
                "0.5",
                "-q",
            ]
        )
        == 0
    )
    half = tifffile.imread(tmp_path / "half.tif").astype(float)
    full = run_to_end(dv.enhance_steps(source, ratio=100)).image.astype(float)
    plain = run_to_end(dv.enhance_steps(source, ratio=100, strength=0.0)).image.astype(float)
    # rendering is not linear, but the half blend lies between the two, nearer neither
    assert np.abs(half - full).mean() < np.abs(plain - full).mean()
    assert np.abs(half - plain).mean() < np.abs(plain - full).mean()

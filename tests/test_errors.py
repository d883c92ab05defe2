"""How a run ends with an error (core/errors.py, the CLI's reporting): one line, the right class,
Ctrl-C 130."""

from __future__ import annotations

import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import ENHANCE
from napari_darkvision import cli
from napari_darkvision.core import output
from napari_darkvision.core.raw import read_raw


def test_ctrl_c_exits_130_with_one_line(make_dng, tmp_path, capsys, monkeypatch):
    source, _ = make_dng()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("napari_darkvision.core.pipeline.enhance_steps", interrupted)
    assert cli.main([*ENHANCE, str(source), "-o", str(tmp_path / "o.png")]) == cli.INTERRUPTED
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_a_missing_file_is_named_missing(tmp_path):
    from napari_darkvision import enhance

    with pytest.raises(dv.MissingInputError, match="does not exist"):
        read_raw(tmp_path / "nothing.dng")
    with pytest.raises(FileNotFoundError):
        enhance(tmp_path / "nothing.dng", ratio=100)


def test_every_user_error_is_a_darkvision_error():
    for kind in (
        dv.RawReadError,
        dv.MissingInputError,
        dv.EnhanceError,
        dv.ModelError,
        dv.DeviceError,
        dv.OutputError,
        dv.OutputExistsError,
    ):
        assert issubclass(kind, dv.DarkvisionError)
    assert issubclass(dv.OutputError, OSError) and issubclass(dv.RawReadError, ValueError)
    assert output.OUTPUT_FORMATS[".png"] == "png"


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(dv.MissingInputError):
        cli.main([*ENHANCE, str(tmp_path / "missing.dng"), "--debug"])

"""How a run ends: nothing lost, nothing half-written, no tracebacks (issue 12's cases, by number)."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import SAMPLE, synthetic_raw
from napari_darkvision import cli
from napari_darkvision.core import output
from napari_darkvision.core.output import PARTIAL_SUFFIX, check_output, write_atomically
from napari_darkvision.core.raw import RawImage, read_raw

ENHANCE = ["enhance", "--ratio", "100", "-q"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("napari-darkvision: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def forbid_enhancing(monkeypatch):
    """Fail the test if the enhancement starts: a bad target must be refused before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the enhancement ran although the output could not be written")

    monkeypatch.setattr("napari_darkvision.core.pipeline.enhance_steps", refuse)


# 1. outputs are written to a temporary file and renamed into place ---------------------------


def _failing_writer(after_bytes: int, error: BaseException):
    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            handle.write(b"x" * after_bytes)
        raise error

    return write


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "ctrl-c"],
)
def test_a_failed_write_leaves_no_file_and_keeps_the_previous_one(tmp_path, error):
    target = tmp_path / "o.png"
    with pytest.raises(dv.OutputError if isinstance(error, OSError) else KeyboardInterrupt):
        write_atomically(target, _failing_writer(3000, error))
    assert not target.exists() and _leftovers(tmp_path) == []
    target.write_bytes(b"the previous good result")
    with pytest.raises(dv.OutputError if isinstance(error, OSError) else KeyboardInterrupt):
        write_atomically(target, _failing_writer(3000, error), overwrite=True)
    assert target.read_bytes() == b"the previous good result" and _leftovers(tmp_path) == []
    write_atomically(target, lambda t: Path(t).write_bytes(b"new"), overwrite=True)  # a rerun is not blocked
    assert target.read_bytes() == b"new"


def test_disk_full_message_names_the_cause(tmp_path):
    with pytest.raises(dv.OutputError, match="Not enough space"):
        write_atomically(tmp_path / "o.tif", _failing_writer(10, OSError(errno.ENOSPC, "full")))


def _small_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0  # fmt: skip


def test_a_real_full_disk_leaves_nothing_behind(tmp_path, capsys):
    full = tmp_path / "full"
    if not _small_tmpfs(full, "3m"):
        pytest.skip("needs root and tmpfs to make a small file system")
    try:
        previous = full / "o.png"
        previous.write_bytes(b"good")
        code = cli.main([*ENHANCE, str(SAMPLE), "-o", str(previous), "--overwrite"])
        assert code == 2 and "Not enough space" in _one_line_error(capsys)
        assert previous.read_bytes() == b"good" and _leftovers(full) == []
    finally:
        subprocess.run(["umount", str(full)], check=False)


# 2. the output location is checked before the enhancement -----------------------------------


def test_bad_targets_are_refused_before_any_work(tmp_path, make_dng, forbid_enhancing, capsys):
    source, _ = make_dng()
    (tmp_path / "x.png").mkdir()
    cases = {
        "does not exist": [str(tmp_path / "nodir" / "sub" / "o.png")],
        "is a directory": [str(tmp_path / "x.png"), "--overwrite"],
        "must end in": [str(tmp_path / "o.jpg")],
    }
    for message, target in cases.items():
        assert cli.main([*ENHANCE, str(source), "-o", *target]) == 2
        assert message in _one_line_error(capsys)


def test_read_only_folders_are_refused_before_any_work(
    tmp_path, make_dng, forbid_enhancing, capsys, monkeypatch
):
    source, _ = make_dng()
    for variable in ("DISPLAY", "WAYLAND_DISPLAY"):  # demo opens napari where there is a screen
        monkeypatch.delenv(variable, raising=False)
    locked = tmp_path / "locked"
    if os.geteuid() == 0:
        if not _small_tmpfs(locked, "1m"):
            pytest.skip("as root a read-only folder needs a read-only mount")
        subprocess.run(["mount", "-o", "remount,ro", str(locked)], check=True)
    else:
        locked.mkdir()
        locked.chmod(0o500)
    try:
        assert cli.main([*ENHANCE, str(source), "-o", str(locked / "o.png")]) == 2
        assert "Cannot write to the folder" in _one_line_error(capsys)
        assert cli.main(["demo", "--output-dir", str(locked / "out")]) == 2
        assert "output folder" in _one_line_error(capsys)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(locked)], check=False)


# 3. hard links (and symlinks) to the input ---------------------------------------------------


def test_a_hard_link_to_the_input_is_never_written(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    before = source.read_bytes()
    linked = tmp_path / "hl_out.png"
    os.link(source, linked)
    assert cli.main([*ENHANCE, str(source), "-o", str(linked), "--overwrite"]) == 2
    assert "input" in _one_line_error(capsys)
    assert source.read_bytes() == before
    symlinked = tmp_path / "sl_out.png"
    symlinked.symlink_to(source)
    with pytest.raises(dv.OutputError, match="input"):
        check_output(symlinked, sources=[source], overwrite=True)


# 4. orientation survives a render without the source file ------------------------------------


@pytest.mark.parametrize("flip", [1, 3, 6])
def test_rendering_without_the_source_file_keeps_the_orientation(tmp_path, flip):
    from napari_darkvision.core.dng import write_dng
    from napari_darkvision.core.render import render

    path = tmp_path / "oriented.dng"
    write_dng(path, dataclasses.replace(synthetic_raw(shape=(64, 96)), orientation=flip))
    raw = read_raw(path)
    assert raw.orientation == flip
    from_file = render(raw, raw.mosaic)
    path.unlink()  # moved or deleted since it was read: the temporary-DNG route
    without_file = render(raw, raw.mosaic)
    assert from_file.shape == without_file.shape
    # the re-written DNG's rational tags round the levels and matrix by a hair: a few DN of 65535
    difference = np.abs(from_file.astype(int) - without_file.astype(int))
    assert difference.max() < 64
    mirrored = np.abs(from_file.astype(int) - without_file[:, ::-1].astype(int))
    assert mirrored.mean() > 20 * difference.mean() + 50
    assert from_file.shape[:2] == ((96, 64) if flip in (5, 6) else (64, 96))


# 5. weights and devices ----------------------------------------------------------------------


def _weights_cases(folder: Path) -> dict[str, Path]:
    import torch
    from safetensors.torch import save_file

    from napari_darkvision.core.bundled import weights_file
    from napari_darkvision.core.model import ARCHITECTURES, build_network

    shipped = Path(weights_file()).read_bytes()
    cases = {"truncated": shipped[: len(shipped) // 2], "empty": b"", "not safetensors": b"PK\x03\x04 zip"}
    paths = {}
    for name, data in cases.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.safetensors"
        paths[name].write_bytes(data)
    model = build_network("fast")  # a valid model of its own; its weights, labelled as another, are not
    state = {k: v for k, v in model.state_dict().items()}
    save_file(state, str(folder / "relabelled.safetensors"),
              metadata={"architecture": json.dumps(dataclasses.asdict(ARCHITECTURES["fast-aware"]))})  # fmt: skip
    paths["config of another"] = folder / "relabelled.safetensors"
    config = dataclasses.asdict(ARCHITECTURES["fast"]) | {"unknown_key": 1}
    save_file(state, str(folder / "unknown.safetensors"), metadata={"architecture": json.dumps(config)})
    paths["unknown config key"] = folder / "unknown.safetensors"
    nan_state = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()
    }
    save_file(nan_state, str(folder / "nan.safetensors"),
              metadata={"architecture": json.dumps(dataclasses.asdict(ARCHITECTURES["fast"]))})  # fmt: skip
    paths["NaN weights"] = folder / "nan.safetensors"
    return paths


def test_unusable_weights_are_one_line_errors(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    for case, weights in _weights_cases(tmp_path).items():
        code = cli.main(
            [*ENHANCE, str(source), "-o", str(tmp_path / f"{weights.stem}.png"), "--weights", str(weights)]
        )
        assert code == 2, case
        _one_line_error(capsys)
        assert not (tmp_path / f"{weights.stem}.png").exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "xpu", "meta", "bogus"])
def test_unavailable_or_unknown_devices_are_one_line_errors(tmp_path, make_dng, capsys, device):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 3:
        pytest.skip("this machine has the device")
    source, _ = make_dng()
    assert cli.main([*ENHANCE, str(source), "-o", str(tmp_path / "o.png"), "--device", device]) == 2
    _one_line_error(capsys)
    with pytest.raises(dv.DeviceError):
        from napari_darkvision import enhance

        enhance(source, ratio=100, device=device)


def test_user_errors_are_reported_before_torch_is_imported(tmp_path, make_dng):
    source, _ = make_dng()
    calls = [
        [*ENHANCE, str(tmp_path / "missing.dng")],
        [*ENHANCE, str(source), "--device", "bogus"],
        ["enhance", str(source), "--ratio", "-3"],
        [*ENHANCE, str(source), "-o", str(tmp_path / "no" / "o.png")],
        [*ENHANCE, str(source), "--weights", str(tmp_path / "none.safetensors")],
    ]
    script = textwrap.dedent("""
        import json, sys, time
        from napari_darkvision.cli import main
        started = time.perf_counter()
        codes = [main(args) for args in json.loads(sys.argv[1])]
        print(json.dumps({"codes": codes, "torch": "torch" in sys.modules, "seconds": time.perf_counter() - started}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(calls)], capture_output=True, text=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["codes"] == [2] * len(calls), out.stderr
    assert not report["torch"]
    assert report["seconds"] < 1.0


# 6. damaged metadata of a layer --------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [("white_level", "abc"), ("white_level", None), ("black_level", "xy"), ("camera_wb", [1, 2])],
)
def test_damaged_layer_metadata_is_a_clear_error(key, value):
    raw = synthetic_raw()
    meta = raw.metadata() | {key: value}
    with pytest.raises(dv.RawReadError, match="white level|black levels|white balance"):
        RawImage.from_metadata(raw.mosaic, meta)


# 7. two runs to one output -------------------------------------------------------------------


_RACE = """
import sys, time
from pathlib import Path
from napari_darkvision.core.output import write_atomically
from napari_darkvision.core.errors import OutputExistsError

def slow(temporary):
    time.sleep(float(sys.argv[3]))
    Path(temporary).write_text(sys.argv[2])

try:
    write_atomically(sys.argv[1], slow)
    print("written")
except OutputExistsError:
    print("exists")
"""


def test_of_two_runs_to_one_output_one_gets_exists(tmp_path):
    target = tmp_path / "race.png"
    runs = [subprocess.Popen([sys.executable, "-c", _RACE, str(target), text, delay], stdout=subprocess.PIPE, text=True)
            for text, delay in (("first", "0.5"), ("second", "1.0"))]  # fmt: skip
    outcomes = sorted(run.communicate(timeout=60)[0].strip() for run in runs)
    assert outcomes == ["exists", "written"]
    assert target.read_text() == "first" and _leftovers(tmp_path) == []


def test_the_cli_race_loser_reports_exists(tmp_path, make_dng, capsys, monkeypatch):
    source, _ = make_dng()
    target = tmp_path / "race.png"
    from napari_darkvision.core import export

    real = export.write_png16

    def another_run_finishes_first(path, rgb, *chunks):
        target.write_bytes(b"the other run's result")
        real(path, rgb, *chunks)

    monkeypatch.setattr(export, "write_png16", another_run_finishes_first)
    assert cli.main([*ENHANCE, str(source), "-o", str(target)]) == 2
    assert "meanwhile" in _one_line_error(capsys)
    assert target.read_bytes() == b"the other run's result"


# 8. a network that outputs NaN ---------------------------------------------------------------


def test_non_finite_network_output_is_an_error_not_a_black_image():
    import torch

    from napari_darkvision.core.archs import FAST
    from napari_darkvision.core.archs.unet import UNet
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled

    class Broken(UNet):
        def forward(self, x, noise=None):
            return torch.full_like(x, float("nan"))

    with pytest.raises(dv.ModelError, match="not finite"):
        run_to_end(run_tiled(Broken(FAST), np.full((4, 64, 64), 0.2, np.float32)))


# 9. hand-built RawImages ---------------------------------------------------------------------


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


# 10. lenient parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options", [{"ratio": True}, {"ratio": 100, "stretch": "no"}, {"ratio": 100, "stretch": 1}]
)
def test_parameters_are_taken_literally(options):
    from napari_darkvision import enhance

    with pytest.raises(dv.EnhanceError):
        enhance(synthetic_raw(), **options)


# 11. a replaced weights file is reloaded -----------------------------------------------------


def test_replacing_the_weights_file_loads_the_new_model(tmp_path):
    import torch

    from napari_darkvision.core.model import build_network, save_weights
    from napari_darkvision.core.pipeline import cached_model

    path = tmp_path / "model.safetensors"
    torch.manual_seed(0)
    save_weights(build_network("fast"), path)
    first = cached_model(str(path), "cpu")
    assert cached_model(str(path), "cpu") is first  # unchanged: reused
    torch.manual_seed(1)
    replacement = build_network("fast")
    save_weights(replacement, tmp_path / "new.safetensors")
    time.sleep(0.01)
    os.replace(tmp_path / "new.safetensors", path)
    second = cached_model(str(path), "cpu")
    assert second is not first
    assert torch.equal(second.head.weight, replacement.head.weight)


# 12. Ctrl-C and missing files ----------------------------------------------------------------


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


def test_outputs_get_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "o.png", lambda t: Path(t).write_bytes(b"x"))
    finally:
        os.umask(umask)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


def test_weights_by_name_on_the_command_line(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    out = tmp_path / "fast.png"
    assert cli.main([*ENHANCE, str(source), "-o", str(out), "--weights", "fast-rep"]) == 0
    assert out.is_file()
    assert cli.main([*ENHANCE, str(source), "-o", str(tmp_path / "o.png"), "--weights", "release-4"]) == 2
    assert "one of release-5, fast-rep" in _one_line_error(capsys)

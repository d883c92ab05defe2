"""Writing outputs (core/output.py): whole or not at all, the target checked before any work, never
the input, one winner of two runs."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import ENHANCE, SAMPLE, one_line_error
from napari_darkvision import cli
from napari_darkvision.core.output import PARTIAL_SUFFIX, check_output, write_atomically


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX))


@pytest.fixture
def forbid_enhancing(monkeypatch):
    """Fail the test if the enhancement starts: a bad target must be refused before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the enhancement ran although the output could not be written")

    monkeypatch.setattr("napari_darkvision.core.pipeline.enhance_steps", refuse)


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
        assert code == 2 and "Not enough space" in one_line_error(capsys)
        assert previous.read_bytes() == b"good" and _leftovers(full) == []
    finally:
        subprocess.run(["umount", str(full)], check=False)


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
        assert message in one_line_error(capsys)


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
        assert "Cannot write to the folder" in one_line_error(capsys)
        assert cli.main(["demo", "--output-dir", str(locked / "out")]) == 2
        assert "output folder" in one_line_error(capsys)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(locked)], check=False)


def test_a_hard_link_to_the_input_is_never_written(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    before = source.read_bytes()
    linked = tmp_path / "hl_out.png"
    os.link(source, linked)
    assert cli.main([*ENHANCE, str(source), "-o", str(linked), "--overwrite"]) == 2
    assert "input" in one_line_error(capsys)
    assert source.read_bytes() == before
    symlinked = tmp_path / "sl_out.png"
    symlinked.symlink_to(source)
    with pytest.raises(dv.OutputError, match="input"):
        check_output(symlinked, sources=[source], overwrite=True)


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
    assert "meanwhile" in one_line_error(capsys)
    assert target.read_bytes() == b"the other run's result"


def test_outputs_get_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "o.png", lambda t: Path(t).write_bytes(b"x"))
    finally:
        os.umask(umask)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644

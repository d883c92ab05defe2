"""Batch runs: a mixed folder (bad files reported, good ones done, exit status 1), reruns skip
what is done, a killed run leaves only complete files and resumes, and the same outputs bit for
bit on a local Dask cluster and on a cluster started here, whose worker may die mid-file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from helpers import read_png16, synthetic_raw
from napari_darkvision.batch import enhance_many, local_cluster_size, plan_jobs
from napari_darkvision.cli import main
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.output import PARTIAL_SUFFIX

CLI = [sys.executable, "-m", "napari_darkvision.cli"]
#: Subprocesses: one torch thread (the machine's other core trains), passive OpenMP waits.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def write_raws(folder: Path, count: int, shape=(256, 384), prefix="dark") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:02d}.dng"
        write_dng(path, synthetic_raw(("RGGB", "GRBG", "BGGR", "GBRG")[i % 4], shape, seed=i))
        paths.append(path)
    return paths


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> np.ndarray:
    """The image of one of our outputs: TIFF through tifffile, PNG by the specification; the
    files' embedded metadata (e.g. the seconds it took) may differ between runs, the pixels not."""
    if path.suffix == ".tif":
        return tifffile.imread(path)
    return read_png16(path)


def outputs(folder: Path) -> dict[str, str]:
    """Visible output images by name, with a hash of their pixels (each must decode whole)."""
    found = sorted(p for p in folder.rglob("*_darkvision.*") if not p.name.startswith("."))
    return {p.name: hashlib.sha256(pixels(p).tobytes()).hexdigest() for p in found}


def summary(folder: Path) -> dict:
    return json.loads((folder / "darkvision-summary.json").read_text())


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "shoot"
    good = write_raws(folder, 2)
    (folder / "holiday.ARW").write_text("this is not a photograph\n" * 50)
    cut = folder / "cut.dng"
    cut.write_bytes(good[0].read_bytes()[:3000])
    # a demosaiced (LinearRaw) DNG: a raw file, but no Bayer mosaic
    tifffile.imwrite(folder / "linear.dng", np.zeros((32, 48, 3), np.uint16), photometric=34892,
                     extratags=[(50706, "B", 4, (1, 4, 0, 0), True)])  # fmt: skip
    (folder / "dark00.xmp").write_text("<x:xmpmeta/>")  # a sidecar: not an input
    (folder / "._dark00.dng").write_bytes(b"\0" * 100)  # macOS metadata: not an input
    return folder, good


def test_mixed_folder(mixed_folder, tmp_path, capsys):
    folder, good = mixed_folder
    before = {p.name: digest(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    assert main(["enhance", str(folder), "-o", str(out), "--scheduler", "none", "-q", "--ratio", "100"]) == 1
    report = capsys.readouterr().out
    assert "2 done, 0 skipped (output present), 3 failed" in report
    assert set(outputs(out)) == {"dark00_darkvision.png", "dark01_darkvision.png"}
    result = summary(out)
    assert (result["done"], result["skipped"], result["failed"]) == (2, 0, 3)
    reasons = {Path(r["source"]).name: r["reason"] for r in result["results"] if r["status"] == "failed"}
    assert set(reasons) == {"holiday.ARW", "cut.dng", "linear.dng"}
    assert "not a supported camera raw" in reasons["holiday.ARW"]
    assert "not a Bayer mosaic" in reasons["linear.dng"]
    assert all(name in report for name in reasons)
    rows = (out / "darkvision-summary.csv").read_text().splitlines()
    assert rows[0].startswith("source,output,status,reason") and len(rows) == 6
    assert {p.name: digest(p) for p in folder.iterdir()} == before  # no input written
    # the batch's output is the single-file command's, bit for bit
    single = tmp_path / "single.png"
    assert main(["enhance", str(good[1]), "-o", str(single), "-q", "--ratio", "100"]) == 0
    assert np.array_equal(pixels(single), pixels(out / "dark01_darkvision.png"))


def test_rerun_skips_what_is_done(mixed_folder, tmp_path, capsys):
    folder, _ = mixed_folder
    out = tmp_path / "out"
    args = ["enhance", str(folder), "-o", str(out), "--scheduler", "none", "-q"]
    assert main(args) == 1
    first = outputs(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert main(args) == 1  # the bad files still fail
    result = summary(out)
    assert (result["done"], result["skipped"], result["failed"]) == (0, 2, 3)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps
    assert main([*args, "--overwrite"]) == 1
    assert summary(out)["done"] == 2 and outputs(out) == first


def test_inputs_patterns_lists_and_sub_folders(tmp_path):
    write_raws(tmp_path / "a", 2)
    write_raws(tmp_path / "a" / "night", 1, prefix="deep")
    write_raws(tmp_path / "b", 1)  # b/dark00.dng: the same output name as a/dark00.dng
    listing = tmp_path / "list.txt"
    listing.write_text("# one a line, relative to the list\na/night/deep00.dng\n\nmissing.dng\n")
    out = tmp_path / "out"
    jobs, results = plan_jobs([tmp_path / "a", str(tmp_path / "b" / "*.dng"), listing, tmp_path / "empty*.nef"],
                              out, format="tif", recursive=True)  # fmt: skip
    targets = sorted(str(job.output.relative_to(out)) for job in jobs)
    # deep00 comes once: from the recursive folder (keeping its sub-folder) and the list alike
    assert targets == ["dark00_darkvision.tif", "dark01_darkvision.tif", "missing_darkvision.tif",
                       "night/deep00_darkvision.tif"]  # fmt: skip
    failed = {Path(r.source).name: r.reason for r in results}
    assert "also dark00.dng's" in failed["dark00.dng"]  # b's: reported, never written over a's
    assert "matches no raw file" in failed["empty*.nef"]
    (out / "night").mkdir(parents=True)
    (out / "night" / "deep00_darkvision.tif").write_bytes(b"done before")
    jobs, results = plan_jobs([tmp_path / "a"], out, format="tif", recursive=True)
    assert [r.status for r in results] == ["skipped"] and len(jobs) == 2
    jobs, _ = plan_jobs([tmp_path / "a"], out, format="tif")
    assert len(jobs) == 2  # not recursive: night/ is not looked into


def test_local_cluster_size():
    gb = 2**30
    assert local_cluster_size(cores=2, memory_bytes=22 * gb) == (2, 1)
    assert local_cluster_size(cores=16, memory_bytes=64 * gb) == (16, 1)
    assert local_cluster_size(cores=16, memory_bytes=8 * gb) == (4, 4)  # memory decides
    assert local_cluster_size(workers=3, cores=16, memory_bytes=8 * gb) == (3, 5)
    assert local_cluster_size(cores=1, memory_bytes=gb) == (1, 1)


def test_importing_the_batch_imports_neither_torch_nor_dask():
    code = "import sys, napari_darkvision.batch; print(sorted({'torch', 'dask', 'distributed'} & set(sys.modules)))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "[]"
    )


def test_the_batch_never_imports_the_command_line():
    """Imports point down: the CLI uses the batch, not the other way (function-level ones included)."""
    import ast

    import napari_darkvision.batch as batch

    for module in Path(batch.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any("cli" in n.split(".") for n in names), (module.name, names)


def test_killed_run_leaves_only_complete_files_and_resumes(tmp_path):
    sources = write_raws(tmp_path / "in", 12)
    reference = enhance_many(sources, tmp_path / "reference", scheduler="none", threads=1, progress=False)
    assert len(reference.done) == 12
    expected = outputs(tmp_path / "reference")
    out = tmp_path / "out"
    command = [
        *CLI,
        "enhance",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--scheduler",
        "none",
        "--threads",
        "1",
        "-q",
    ]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(outputs(out) if out.is_dir() else {}) < 3 and process.poll() is None:
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    written = outputs(out)
    assert 3 <= len(written) < 12, "killed too late to test anything"
    assert all(expected[name] == value for name, value in written.items())  # whole, or absent
    leftovers = [p.name for p in out.iterdir() if p.name not in written]
    assert all(name.startswith(".") and name.endswith(PARTIAL_SUFFIX) for name in leftovers), leftovers
    resumed = enhance_many(tmp_path / "in", out, scheduler="none", threads=1, progress=False)
    assert (len(resumed.done), len(resumed.skipped), len(resumed.failed)) == (
        12 - len(written),
        len(written),
        0,
    )
    assert outputs(out) == expected  # and the killed run's temporary files went with each file's rewrite
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*expected, "darkvision-summary.json", "darkvision-summary.csv"]
    )


# -- on Dask clusters ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and one worker (one task at a time) on 127.0.0.1, in processes of their own."""
    distributed = pytest.importorskip("distributed")
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed")
    folder = tmp_path_factory.mktemp("cluster")
    address_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "wb")  # noqa: SIM115 (closed in the finally)
    common = dict(cwd=folder, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    processes = []
    try:
        processes.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                           "--scheduler-file", address_file], **common))  # fmt: skip
        deadline = time.monotonic() + 60
        while not address_file.exists():
            assert time.monotonic() < deadline and processes[0].poll() is None, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        processes.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                           "--nthreads", "1", "--no-dashboard", "--memory-limit", "4GB",
                                           "--death-timeout", "30"], **common))  # fmt: skip
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for process in reversed(processes):  # the worker first: it then closes at once
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()


def run_cli(*args, env=ENV, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "enhance", *map(str, args), "-q"], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_local_cluster_and_explicit_scheduler_give_the_same_files(cluster, tmp_path):
    write_raws(tmp_path / "in", 4)
    # one local worker, as the test's cluster has: the same torch threads, so the same bits
    local = run_cli(tmp_path / "in", "-o", tmp_path / "local", "--workers", "1")
    assert local.returncode == 0, local.stdout + local.stderr
    assert "local Dask cluster" in local.stdout
    remote = run_cli(
        tmp_path / "in", "-o", tmp_path / "remote", env={**ENV, "DASK_SCHEDULER_ADDRESS": cluster}
    )
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert cluster in remote.stdout
    threads = [
        {r["torch_threads"] for r in summary(tmp_path / name)["results"]} for name in ("local", "remote")
    ]
    assert threads[0] == threads[1] and len(threads[0]) == 1  # equal torch threads...
    assert len(outputs(tmp_path / "local")) == 4
    assert outputs(tmp_path / "local") == outputs(tmp_path / "remote")  # ...equal bits


def test_worker_killed_mid_file_is_retried_or_reported(cluster, tmp_path):
    from distributed import Client

    count = 6
    write_raws(tmp_path / "in", count, shape=(768, 1152))
    out = tmp_path / "out"
    command = [*CLI, "enhance", str(tmp_path / "in"), "-o", str(out), "--scheduler", cluster, "-q"]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with Client(cluster, timeout=30) as client:
            deadline = time.monotonic() + 180
            while not (out.is_dir() and outputs(out) and any(client.processing().values())):
                assert time.monotonic() < deadline and process.poll() is None, "the batch did not get going"
                time.sleep(0.05)
            (pid,) = client.run(os.getpid).values()
            os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; the scheduler reassigns the file
        printed, _ = process.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    result = summary(out)
    assert sorted(Path(r["source"]).name for r in result["results"]) == [
        f"dark{i:02d}.dng" for i in range(count)
    ]
    present = 0  # a file whose worker died after writing it: its retry finds it whole
    for entry in result["results"]:  # each file done, or failed saying its worker died: none lost
        present += entry["status"] == "skipped" and "output is present" in entry["reason"]
        assert (
            entry["status"] == "done" or "died" in entry["reason"] or "output is present" in entry["reason"]
        ), entry
    assert len(outputs(out)) == result["done"] + present >= 1
    assert process.returncode == (0 if result["done"] + present == count else 1), printed


def test_strength_is_checked_before_work_and_applied(mixed_folder, tmp_path, capsys):
    folder, _ = mixed_folder
    out = tmp_path / "out"
    base = ["enhance", str(folder), "-o", str(out), "--scheduler", "none", "-q", "--ratio", "100"]
    assert main([*base, "--strength", "2"]) == 2 and not out.exists()
    assert main([*base, "--strength", "0"]) == 1  # the bad files still fail
    import napari_darkvision as dv
    from napari_darkvision.core.progress import run_to_end

    done = summary(out)
    assert done["done"] == 2
    name = next(p for p in out.glob("*.png"))
    source = next(p for p in folder.iterdir() if p.stem == name.stem.removesuffix("_darkvision"))
    amplified = run_to_end(dv.enhance_steps(source, ratio=100, strength=0.0)).image
    assert np.array_equal(pixels(name), amplified)
    assert not np.array_equal(pixels(name), run_to_end(dv.enhance_steps(source, ratio=100)).image)


# -- nothing lost at the batch's doors (issue 23) --------------------------------------------------


def test_the_summary_is_checked_as_an_output(tmp_path, capsys):
    sources = write_raws(tmp_path / "s", 2)
    before = {p.name: digest(p) for p in (tmp_path / "s").iterdir()}
    out = tmp_path / "out"
    base = ["enhance", str(tmp_path / "s"), "-o", str(out), "--scheduler", "none", "-q"]
    assert main([*base, "--summary", str(sources[0])]) == 2  # not .json: never over a raw
    assert "must end in .json" in capsys.readouterr().err
    (tmp_path / "s" / "link.json").symlink_to(sources[0])
    assert main([*base, "--summary", str(tmp_path / "s" / "link.json")]) == 2
    assert "over the input" in capsys.readouterr().err
    (tmp_path / "s" / "link.json").unlink()
    assert main([*base, "--summary", str(tmp_path / "nowhere" / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert {p.name: digest(p) for p in (tmp_path / "s").iterdir()} == before and not out.exists()
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}\n')
    assert (
        main([*base, "--summary", str(notes)]) == 2
        and "not a napari-darkvision summary" in capsys.readouterr().err
    )
    assert notes.read_text() == '{"mine": true}\n' and not out.exists()
    previous = os.umask(0o022)
    try:
        assert main([*base, "--summary", str(notes), "--overwrite"]) == 0
        assert main([*base, "--summary", str(notes)]) == 0  # our own summary: replaced by the rerun
    finally:
        os.umask(previous)
    document = json.loads(notes.read_text())
    assert document["format"] == "napari-darkvision batch summary" and document["skipped"] == 2
    assert (
        oct(notes.stat().st_mode & 0o777)
        == oct(0o644)
        == oct(notes.with_suffix(".csv").stat().st_mode & 0o777)
    )


def test_a_summary_that_cannot_be_written_loses_no_result(mixed_folder, tmp_path, capsys, monkeypatch):
    import errno

    folder, _ = mixed_folder
    out = tmp_path / "out"
    args = ["enhance", str(folder), "-o", str(out), "--scheduler", "none", "-q"]
    assert main(args) == 1 and summary(out)["failed"] == 3  # the previous run's summary
    capsys.readouterr()
    replace = os.replace

    def full_disk(source, target, *rest, **options):
        if str(target).endswith(".json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return replace(source, target, *rest, **options)

    monkeypatch.setattr(os, "replace", full_disk)
    assert main([*args, "--overwrite"]) == 1
    printed = capsys.readouterr()
    assert (
        "2 done" in printed.out and "failed: holiday.ARW" in printed.out and "failed: cut.dng" in printed.out
    )
    assert printed.err.count("\n") == 1 and "Not enough space" in printed.err, printed.err
    assert not (out / "darkvision-summary.json").exists() and not (out / "darkvision-summary.csv").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]


def test_a_recursive_glob_ends_on_a_symlink_loop(tmp_path):
    folder = tmp_path / "L" / "d"
    write_raws(folder, 1)
    (folder / "up").symlink_to("..")
    (folder / "self").symlink_to("../d")
    pattern = str(tmp_path / "L" / "**" / "*.dng")
    run = run_cli(pattern, "-o", tmp_path / "L_out", "--recursive", "--scheduler", "none", timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 done" in run.stdout and list(outputs(tmp_path / "L_out")) == ["dark00_darkvision.png"]


@pytest.mark.parametrize("address", ["foo://bar", "tcp://127.0.0.1:notaport", "tcp://127.0.0.1:70000"])
def test_a_malformed_scheduler_is_one_line_before_torch(tmp_path, address):
    write_raws(tmp_path / "s", 2)
    out = tmp_path / "out"
    code = (
        "import sys; from napari_darkvision.cli import main; "
        f"code = main(['enhance', {str(tmp_path / 's')!r}, '-o', {str(out)!r}, '--scheduler', {address!r}]); "
        "print(code, 'torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert run.stdout.split() == ["2", "False"], run.stdout + run.stderr
    assert run.stderr.count("\n") == 1 and "is not a Dask scheduler address" in run.stderr, run.stderr
    assert not out.exists()


def test_an_unreachable_scheduler_leaves_no_folder_and_no_summary(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from napari_darkvision.batch import SchedulerError, execute

    monkeypatch.setattr(execute, "CONNECT_TIMEOUT_S", 2)
    write_raws(tmp_path / "s", 2)
    with pytest.raises(SchedulerError, match="Cannot reach"):
        enhance_many(tmp_path / "s", tmp_path / "out", scheduler="tcp://127.0.0.1:1", progress=False)
    assert not (tmp_path / "out").exists()
    (tmp_path / "there").mkdir()
    with pytest.raises(SchedulerError):
        enhance_many(tmp_path / "s", tmp_path / "there", scheduler="tcp://127.0.0.1:1", progress=False)
    assert list((tmp_path / "there").iterdir()) == []


def test_our_outputs_are_not_taken_as_inputs(tmp_path, capsys):
    tree = tmp_path / "tree"
    write_raws(tree, 2)
    base = ["--scheduler", "none", "-q", "--recursive"]
    assert main(["enhance", str(tree), "-o", str(tree / "enhanced"), "--format", "dng", *base]) == 0
    capsys.readouterr()
    assert main(["enhance", str(tree), "-o", str(tmp_path / "again"), *base]) == 0
    assert "ignored: 2 files written by napari-darkvision" in capsys.readouterr().out
    assert sorted(outputs(tmp_path / "again")) == ["dark00_darkvision.png", "dark01_darkvision.png"]
    assert {r["status"] for r in summary(tmp_path / "again")["results"]} == {"done", "ignored"}
    assert main(["enhance", str(tree), "-o", str(tmp_path / "all"), *base, "--include-outputs"]) == 0
    assert "dark00_darkvision_darkvision.png" in outputs(tmp_path / "all")


def test_a_partial_file_left_by_a_kill_goes_with_the_next_write(tmp_path):
    sources = write_raws(tmp_path / "s", 1)
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / f".dark00_darkvision.png.k1ll3d0_{PARTIAL_SUFFIX}"
    leftover.write_bytes(b"")  # what a SIGKILL mid-write leaves: young, empty
    other = out / f".other_darkvision.png.k1ll3d0_{PARTIAL_SUFFIX}"
    other.write_bytes(b"")  # another output's: not this write's to remove
    assert len(enhance_many(sources, out, scheduler="none", progress=False).done) == 1
    assert not leftover.exists() and other.exists()


def test_library_noise_stays_off_stderr(tmp_path):
    broken = Path(__file__).parents[1] / ".." / "shared" / "raw" / "broken"
    noisy = [
        broken / "exiftool_Nikon.nef",
        broken / "exiftool_FujiFilm.raf",
        broken / "exiftool_Panasonic.rw2",
    ]
    if not all(path.is_file() for path in noisy):
        pytest.skip("../shared/raw/broken is not here")
    write_raws(tmp_path / "s", 1)
    for path in noisy:
        (tmp_path / "s" / path.name).write_bytes(path.read_bytes())
    run = run_cli(tmp_path / "s", "-o", tmp_path / "out", "--scheduler", "none")
    assert run.returncode == 1 and run.stderr == "", run.stderr
    reasons = {Path(r["source"]).name: r["reason"] for r in summary(tmp_path / "out")["results"]}
    assert "data corrupted" in reasons["exiftool_Nikon.nef"]  # LibRaw's, from C
    assert "Unexpected end of file" in reasons["exiftool_FujiFilm.raf"]
    assert "not supported" in reasons["exiftool_Panasonic.rw2"]  # tifffile's, by logging


def wait_for_outputs(out: Path, count: int, process, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while len(outputs(out) if out.is_dir() else {}) < count:
        assert time.monotonic() < deadline and process.poll() is None, "the batch made no progress"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_write_the_summary(tmp_path, stop):
    write_raws(tmp_path / "in", 8)
    out = tmp_path / "out"
    command = [
        *CLI,
        "enhance",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--scheduler",
        "none",
        "--threads",
        "1",
        "-q",
    ]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_outputs(out, 1, process)
        process.send_signal(stop)
        printed, errors = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    assert process.returncode == 128 + stop, printed + errors
    result = summary(out)
    assert result["interrupted"] and result["done"] >= 1 and result["unfinished"] >= 1
    assert result["done"] + result["unfinished"] == 8 == len(result["results"])
    assert "unfinished:" in printed and "rerun the same command" in printed
    assert "Traceback" not in errors


def test_a_cluster_that_loses_its_last_worker_ends_in_time(tmp_path):
    """The --help's promise: no worker for the time allowed (here 5 s) ends the batch, which
    reports the files it did not finish and writes the summary."""
    distributed = pytest.importorskip("distributed")
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed")
    write_raws(tmp_path / "in", 6, shape=(768, 1152))
    address_file = tmp_path / "scheduler.json"
    common = dict(cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", address_file], **common)]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        processes.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--no-nanny",
                                           "--nthreads", "1", "--no-dashboard"], **common))  # fmt: skip
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
        out = tmp_path / "out"
        command = [*CLI, "enhance", str(tmp_path / "in"), "-o", str(out), "--scheduler", address, "-q"]
        env = {**ENV, "DASK_DARKVISION__WORKERLESS_TIMEOUT": "5"}
        batch = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(batch)
        wait_for_outputs(out, 1, batch)
        processes[1].kill()  # no nanny: no worker comes back
        killed = time.monotonic()
        printed, errors = batch.communicate(timeout=90)
        assert time.monotonic() - killed < 60, "the batch did not end in the time allowed"
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait(30)
    assert batch.returncode == 1, printed + errors
    result = summary(out)
    assert result["unfinished"] >= 1 and result["done"] + result["unfinished"] + result["failed"] == 6
    assert "no worker for 5 s" in printed and "unfinished:" in printed
    assert all("no worker" in r["reason"] for r in result["results"] if r["status"] == "unfinished")


def test_help_states_the_lost_cluster_bound(capsys):
    with pytest.raises(SystemExit):
        main(["enhance", "--help"])
    assert "no worker for 60 s" in " ".join(capsys.readouterr().out.split())

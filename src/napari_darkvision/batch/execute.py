"""Where a batch's files run: one after another in this process, or one task per file on a
``dask.distributed`` cluster (local, sized to the machine, or an existing one). Dask is imported
inside functions only."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from ..core.errors import DarkvisionError, OutputExistsError
from ..core.output import check_output
from ..core.parameters import usable_cores
from .summary import DONE, FAILED, SKIPPED, FileResult, Job

#: Torch threads per local worker: one worker per core runs a file's reading, rendering and
#: writing beside another's network, faster than fewer, wider workers (benchmarks/README.md).
TORCH_THREADS_PER_WORKER = 1
#: Memory allowed per local worker: its peak, model and Python included, measured 0.75 GB at 12 MP
#: (research/benchmarks/batch-vm.json) and 1.7 GB at 61 MP (vm.json); 2 GB holds either.
WORKER_MEMORY_BYTES = 2 * 2**30
STAGE_TOPIC = "napari-darkvision-stage"
CONNECT_TIMEOUT_S, WORKER_WAIT_S = 30, 120
#: A Dask cluster without any worker for this long ends the batch, its files still to do reported
#: unfinished (Dask's setting ``darkvision.workerless-timeout`` changes it, in seconds).
WORKERLESS_TIMEOUT_S = 60
#: How often a Dask batch without a finished file looks at its cluster, in seconds.
POLL_S = 0.25


class SchedulerError(DarkvisionError, ConnectionError):
    """A Dask scheduler that cannot be reached, has no workers, or dask that is not installed."""


class ClusterLostError(SchedulerError):
    """The Dask cluster had no worker for :data:`WORKERLESS_TIMEOUT_S`: the batch ends."""


def check_scheduler(scheduler: str | None) -> str | None:
    """`scheduler` as given, once it (or else Dask's scheduler-address setting) is an address Dask
    can connect to, or "none": SchedulerError (one line) now, before any work, for one it cannot."""
    address = scheduler if scheduler is not None else _configured_address()
    if address is None or address == "none":
        return scheduler
    if not isinstance(address, str):
        raise SchedulerError(
            f"The Dask scheduler is an address such as tcp://10.0.0.5:8786, not {address!r}."
        )
    try:
        from distributed.comm import get_address_host_port, parse_address
        from distributed.comm.registry import get_backend
    except ImportError:
        raise SchedulerError(
            f"A scheduler ({address}) needs dask: pip install 'napari-darkvision[batch]', or --scheduler none."
        ) from None
    try:
        scheme, _ = parse_address(address, strict=False)
        get_backend(scheme)
        if scheme != "inproc":
            _, port = get_address_host_port(address)
            if not 0 < int(port) < 65536:
                raise ValueError(f"port {port} out of range")
    except (ValueError, TypeError) as err:
        raise SchedulerError(
            f"{address!r} is not a Dask scheduler address ({err}): give one such as tcp://10.0.0.5:8786, "
            "or 'none' to run in this process."
        ) from None
    return scheduler


def enhance_file(source: str, output: str, options: dict, on_stage: Callable | None = None) -> FileResult:
    """Enhance one raw into `output`: a batch's task, in this process or on a Dask worker.

    Never raises for a bad file: the failure is returned with its message (a bug's with its
    type). KeyboardInterrupt passes. `options`: ``enhance`` (an
    EnhanceSettings), ``output`` (an OutputSettings) and ``threads`` (torch threads, or None);
    `on_stage(file name, stage)` is told each stage (on a worker: a Dask event)."""
    started = time.perf_counter()
    worker = _current_worker()
    report = on_stage or (_event_reporter(worker) if worker is not None else None)
    where = worker.name if worker is not None else "this process"
    # one task at a time here: what the libraries print can be told apart and kept in its row
    alone = (
        threading.current_thread() is threading.main_thread()
        if worker is None
        else worker.state.nthreads == 1
    )
    with _libraries_quiet(alone) as said:
        try:
            threads = _enhance_and_save(Path(source), Path(output), options, report)
        except OutputExistsError:
            # written whole by an earlier attempt whose worker died before it could say so
            reason = "its output is present (an earlier attempt or run wrote it)"
            return FileResult(source, output, SKIPPED, reason, _since(started), str(where))
        except DarkvisionError as err:
            failure = str(err)
        except Exception as err:  # noqa: BLE001 - a bug or a resource shortage: recorded, and the batch goes on
            failure = f"{type(err).__name__}: {err}"
        else:
            failure = None
    notes = "; ".join(dict.fromkeys(said))  # each line once: LibRaw repeats itself
    if failure is not None:
        reason = f"{failure} ({notes})" if notes else failure
        return FileResult(source, output, FAILED, reason, _since(started), str(where))
    return FileResult(source, output, DONE, notes, _since(started), str(where), threads, _peak_memory_mb())


@contextlib.contextmanager
def _libraries_quiet(enabled: bool):
    """What LibRaw (from C), tifffile (by logging) and numpy (by warnings) would print to stderr
    while a file is enhanced, kept instead: the list yielded holds those lines once the block ends."""
    said: list[str] = []
    if not enabled:
        yield said
        return
    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.flush()
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the with below, once fd 2 is on it
    except OSError:  # no room for it (a full disk): the libraries may print, the file still runs
        yield said
        return
    saved = os.dup(2)
    with capture:
        os.dup2(capture.fileno(), 2)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield said
        finally:
            with contextlib.suppress(AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            printed = capture.read().decode("utf-8", "replace").splitlines()
            said += [line.strip() for line in printed if line.strip()]
            said += [f"{item.category.__name__}: {item.message}" for item in caught]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _peak_memory_mb() -> float | None:
    """Peak resident memory of this process (a worker's, model included) so far, in MB."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _current_worker():
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _event_reporter(worker) -> Callable[[str, str], None]:
    return lambda name, stage: worker.log_event(STAGE_TOPIC, {"file": name, "stage": stage})


def _enhance_and_save(source: Path, output: Path, options: dict, report: Callable | None) -> int | None:
    from ..core.export import save_result
    from ..core.pipeline import enhance_steps, run_to_end

    check_output(output, sources=[source], overwrite=options["output"].overwrite)
    if options.get("threads"):
        import torch

        torch.set_num_threads(int(options["threads"]))
    # events say what has finished: after the read comes the network, after DONE the writing
    labels = {"read": "denoising", "network": "denoising", "render": "rendering", "done": "writing"}
    shown = ["reading"]
    if report:
        report(source.name, "reading")

    def show(event) -> None:
        label = labels.get(str(event.stage))
        if report and label and label != shown[0]:
            shown[0] = label
            report(source.name, label)

    result = run_to_end(enhance_steps(source, options["enhance"]), show)
    written = options["output"]
    save_result(
        output, result, overwrite=written.overwrite, sources=[source], dng_compression=written.dng_compression
    )
    return result.metadata.get("torch_threads")


# -- where the files run ---------------------------------------------------------------------------


def local_cluster_size(
    workers: int | None = None, cores: int | None = None, memory_bytes: int | None = None
) -> tuple[int, int]:
    """(workers, torch threads each) for this machine: workers x threads <= cores, and no more
    workers than the free memory holds (:data:`WORKER_MEMORY_BYTES` each)."""
    cores = cores or usable_cores()
    if memory_bytes is None:
        import psutil  # a dependency of distributed

        memory_bytes = psutil.virtual_memory().available
    if not workers:
        workers = min(cores // TORCH_THREADS_PER_WORKER, memory_bytes // WORKER_MEMORY_BYTES)
    workers = max(1, int(workers))
    return workers, max(1, cores // workers)


def worker_environment(threads: int) -> dict[str, str]:
    """OpenMP and BLAS threads of a local worker: Dask's nanny sets them to 1, which leaves
    LibRaw's demosaicing (OpenMP) on one core while the others wait (benchmarks/README.md)."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def cluster_threads(client) -> int:
    """Torch threads per task on an existing cluster: each host's cores shared by the tasks that
    its workers run at once (Dask's nanny sets OMP_NUM_THREADS=1, which would waste cores)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise SchedulerError(f"No Dask worker joined the scheduler in {WORKER_WAIT_S} s.") from None
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(usable_cores)
    tasks_by_host: dict[str, int] = {}
    for info in workers.values():
        tasks_by_host[info["host"]] = tasks_by_host.get(info["host"], 0) + info["nthreads"]
    shares = [
        cores[address] // tasks_by_host[info["host"]] for address, info in workers.items() if address in cores
    ]
    return max(1, min(shares, default=1))


@contextlib.contextmanager
def job_runner(jobs: list[Job], options: dict, client, scheduler: str | None, workers: int | None, tracker):
    """Yield (an iterator of FileResults as files finish, a description of where they run)."""
    address = None if scheduler == "none" else scheduler or _configured_address()
    if client is None and address is None and (len(jobs) <= 1 or scheduler == "none" or not _has_dask()):
        yield _run_here(jobs, options, tracker), "sequential, in this process"
        return
    with contextlib.ExitStack() as stack:
        from distributed import Client

        if client is not None:
            where = f"Dask scheduler {client.scheduler.address}"
        elif address is not None:
            try:
                client = stack.enter_context(Client(address, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError) as err:
                raise SchedulerError(f"Cannot reach the Dask scheduler at {address}: {err}") from None
            where = f"Dask scheduler {address}"
        else:
            from distributed import LocalCluster

            count, threads = local_cluster_size(workers)
            options = {**options, "threads": options.get("threads") or threads}
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    env=worker_environment(threads),
                )
            )
            client = stack.enter_context(Client(cluster))
            where = f"local Dask cluster, {count} worker{'s' * (count > 1)}"
        options = {**options, "threads": options.get("threads") or cluster_threads(client)}
        yield _run_on_dask(jobs, options, client, tracker), f"{where} x {options['threads']} torch threads"


def _has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _configured_address() -> str | None:
    """Dask's own setting (DASK_SCHEDULER_ADDRESS, or scheduler-address in its config)."""
    if not _has_dask():
        return None
    import dask

    return dask.config.get("scheduler-address", None)


def _run_here(jobs: list[Job], options: dict, tracker) -> Iterator[FileResult]:
    for job in jobs:
        yield enhance_file(str(job.source), str(job.output), options, on_stage=tracker.stage)


def _run_on_dask(jobs: list[Job], options: dict, client, tracker) -> Iterator[FileResult]:
    """One task per file; a task whose worker died is retried on another (Dask's allowed-failures)
    and reported as failed when workers keep dying on it: never lost. A cluster without any worker
    for the time allowed (:data:`WORKERLESS_TIMEOUT_S`) raises ClusterLostError: the batch ends."""
    from distributed import KilledWorker, as_completed

    watch = _WorkerWatch(client)
    futures = client.map(
        enhance_file,
        [str(j.source) for j in jobs],
        [str(j.output) for j in jobs],
        options=options,
        key=[f"darkvision-{i}-{os.getpid()}-{time.time_ns()}" for i in range(len(jobs))],
        retries=1,
    )
    pending = dict(zip(futures, jobs, strict=True))
    client.subscribe_topic(STAGE_TOPIC, tracker.dask_event)
    finishing = as_completed(futures)
    try:
        while pending:
            batch = finishing.next_batch(block=False)
            if not batch:
                watch.check()
                time.sleep(POLL_S)
                continue
            for future in batch:
                job = pending.pop(future)
                try:
                    yield _result_while_watched(future, watch)
                except KilledWorker as err:
                    reason = f"the workers running it died ({err}): out of memory? see the workers' logs"
                    yield FileResult(str(job.source), str(job.output), FAILED, reason)
                except Exception as err:  # noqa: BLE001 - the task could not run there (e.g. not installed there)
                    yield FileResult(str(job.source), str(job.output), FAILED, f"{type(err).__name__}: {err}")
                future.release()
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(STAGE_TOPIC)
            client.cancel(list(pending))


def _result_while_watched(future, watch: _WorkerWatch):
    """The finished future's result. Its data may have been on a worker that died since: then
    Dask computes it again, and with no worker left the wait would not end; the watch ends it."""
    while True:
        try:
            return future.result(timeout=1.0)
        except TimeoutError:
            watch.check()


class _WorkerWatch:
    """ClusterLostError once the cluster has had no worker (or no scheduler) for the time allowed."""

    def __init__(self, client):
        import dask
        from dask.utils import parse_timedelta

        self.client = client
        setting = dask.config.get("darkvision.workerless-timeout", WORKERLESS_TIMEOUT_S)
        try:
            self.allowed = float(parse_timedelta(setting, default="s"))
        except (TypeError, ValueError, KeyError):
            raise SchedulerError(
                f"Dask's darkvision.workerless-timeout is a time in seconds, not {setting!r}."
            ) from None
        self.since: float | None = None
        self.looked = 0.0

    def check(self) -> None:
        now = time.monotonic()
        if now - self.looked < 1.0:
            return
        self.looked = now
        if self._workers():
            self.since = None
            return
        self.since = self.since or now
        if now - self.since >= self.allowed:
            raise ClusterLostError(f"the Dask cluster had no worker for {self.allowed:g} s")

    def _workers(self) -> int:
        if self.client.status != "running":
            return 0
        try:
            return len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer has no worker for us
            return 0


class ProgressTracker:
    """One bar over files: the current file's stage, files per minute, ETA (tqdm's)."""

    def __init__(self, total: int, progress):
        from tqdm import tqdm

        self.callback = progress if callable(progress) else None
        show = bool(progress) if progress is not None and not callable(progress) else None
        hidden = show is False or total == 0
        self.stream = None if hidden else _stderr_of_its_own()
        self.bar = tqdm(
            total=total,
            desc="enhance",
            unit="file",
            disable=hidden,
            file=self.stream or sys.stderr,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
        )
        self.started, self.done, self.current = time.perf_counter(), 0, ""

    def stage(self, name: str, stage: str) -> None:
        self.current = f"{name}: {stage}"
        self._refresh()

    def dask_event(self, event) -> None:
        self.stage(event[1]["file"], event[1]["stage"])

    def finished(self, result: FileResult) -> None:
        self.done += 1
        self.bar.update(1)
        self._refresh()
        if self.callback:
            self.callback(result)

    def _refresh(self) -> None:
        minutes = (time.perf_counter() - self.started) / 60
        rate = f"{self.done / minutes:.1f} files/min" if self.done and minutes > 0 else "-"
        self.bar.set_postfix_str(f"{rate}, {self.current}", refresh=True)

    def close(self) -> None:
        self.bar.close()
        if self.stream is not None:
            self.stream.close()


def _stderr_of_its_own():
    """The terminal's stderr on a descriptor of its own: the bar stays while fd 2 is kept from the
    libraries (:func:`_libraries_quiet`); None where stderr has no descriptor (it is not redirected)."""
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
    except (AttributeError, OSError, ValueError):
        return None

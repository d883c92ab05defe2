"""Batch: many raws to one output folder, in this process or on a Dask cluster.

:func:`enhance_many` (and ``napari-darkvision enhance IN... -o OUT_DIR``) collects the inputs
(files, folders, glob patterns, ``.txt`` files listing paths), names each output by the
single-file rule inside the output folder (keeping a recursive folder's sub-folders), skips the
outputs already present and enhances the rest: one after another in this process, or as one task
per file on ``dask.distributed`` (a local cluster sized to the machine by default, or an existing
cluster by address). Every output goes through :func:`~.core.output.write_atomically`, so an
interrupted run leaves only complete files and a rerun finishes the rest; a file that fails is
recorded with its message and the run goes on. The summary is printed and written as JSON and CSV.

Memory: a worker enhances one file at a time and keeps only the model between files; its peak
was 0.75 GB at 12 MP (benchmarks/batch_throughput.py), 1.7 GB at 61 MP, so a machine with N GB
free holds about N / 2 workers of either, and the local cluster is never sized beyond that. Dask is imported
here only, inside functions: importing this module costs neither dask nor torch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..core.errors import MissingInputError, OutputError
from ..core.output import OUTPUT_FORMATS
from .execute import (
    WORKERLESS_TIMEOUT_S,
    ClusterLostError,
    ProgressTracker,
    SchedulerError,
    check_scheduler,
    enhance_file,
    job_runner,
    local_cluster_size,
)
from .plan import FORMATS, collect_inputs, plan_jobs, prepare_folders
from .summary import SUMMARY_NAME, UNFINISHED, BatchSummary, FileResult, Job, check_summary_target

#: Exit status of a batch in which some file (or the summary) failed (0: none did; 2: the batch
#: could not start; 128 + the signal's number after Ctrl-C or SIGTERM).
SOME_FAILED = 1

__all__ = [
    "FORMATS",
    "WORKERLESS_TIMEOUT_S",
    "BatchSummary",
    "ClusterLostError",
    "FileResult",
    "Job",
    "SchedulerError",
    "collect_inputs",
    "enhance_file",
    "enhance_many",
    "local_cluster_size",
    "plan_jobs",
    "run_from_cli",
]


def enhance_many(
    paths,
    out_dir,
    *,
    settings=None,
    format="png",
    overwrite=False,
    recursive=False,
    client=None,
    progress=None,
    scheduler=None,
    workers=None,
    threads=None,
    summary=None,
    include_outputs=False,
    dng_compression="ljpeg",
    **enhance_options,
) -> BatchSummary:
    """Enhance many raws into `out_dir`; returns the :class:`BatchSummary` (also written there).

    Parameters
    ----------
    paths
        Raw files, folders, glob patterns and ``.txt`` files listing paths (one a line).
    out_dir
        The output folder (made if missing); outputs are ``<stem>_darkvision.<format>``, in the
        input folder's sub-folders when `recursive`.
    settings, **enhance_options
        An :class:`~napari_darkvision.core.settings.EnhanceSettings` for every file, or its options
        as keywords (``ratio``, ``strength``, ``weights``, ...), as for :func:`~napari_darkvision.enhance`.
    format
        "png", "tif" or "dng".
    overwrite
        Replace outputs present; by default they are skipped (a rerun finishes an interrupted run).
    client
        A ``distributed.Client`` to run on. Without it: `scheduler` (an address, or "none" for
        this process only), else Dask's ``scheduler-address`` setting, else a local cluster of
        `workers` processes (default: sized to the machine); this process without dask. A cluster
        without any worker for :data:`WORKERLESS_TIMEOUT_S` ends the batch, its files unfinished.
    progress
        True/False for a progress bar (None: tqdm's default), or a callable given each FileResult.
    threads
        Torch threads per file (default: the cores shared by the tasks that run at once).
    summary
        Where to write the summary JSON (CSV beside it); default ``out_dir/darkvision-summary.json``;
        False writes none. Another file there is replaced only with `overwrite`, never an input.
        If it cannot be written, the summary returned says why (``summary_error``; not ``ok``).
    include_outputs
        Also enhance the DNGs napari-darkvision wrote (skipped as "ignored" by default).
    dng_compression
        How DNG outputs store the mosaic: "ljpeg" (lossless JPEG) or "none".

    Raises
    ------
    DarkvisionError
        For a bad parameter, an unusable output folder, summary path or scheduler, or no input at
        all; a bad file only fails its own row.
    KeyboardInterrupt
        After Ctrl-C, once the summary (the unfinished files included) is written.
    """
    from ..core.settings import OutputSettings, settings_from

    settings = settings_from(settings, **enhance_options)
    output = OutputSettings(overwrite=overwrite, dng_compression=dng_compression)
    batch = _run(
        paths,
        out_dir,
        settings,
        output,
        format=format,
        recursive=recursive,
        client=client,
        progress=progress,
        scheduler=scheduler,
        workers=workers,
        threads=threads,
        summary=summary,
        include_outputs=include_outputs,
    )
    if batch.interrupted:
        raise KeyboardInterrupt
    return batch


def _run(
    paths,
    out_dir,
    settings,
    output,
    *,
    format,
    recursive,
    client,
    progress,
    scheduler,
    workers,
    threads,
    summary,
    include_outputs,
) -> BatchSummary:
    """The batch; Ctrl-C (and SIGTERM, where the CLI turns it into one) ends it as `interrupted`."""
    overwrite = output.overwrite
    options = {"enhance": _for_workers(settings), "output": output, "threads": _checked_threads(threads)}
    if not isinstance(include_outputs, bool):
        raise OutputError(f"include_outputs must be True or False, not {include_outputs!r}.")
    scheduler = check_scheduler(scheduler)
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() in OUTPUT_FORMATS or out_dir.is_file():
        raise OutputError(f"The output of a batch is a folder, not the file {out_dir}.")
    started = time.perf_counter()
    jobs, results = plan_jobs(
        paths,
        out_dir,
        format=format,
        recursive=recursive,
        overwrite=overwrite,
        include_outputs=include_outputs,
    )
    if not jobs and not results:
        raise MissingInputError("No raw file to enhance in the inputs given.")
    sources = [job.source for job in jobs] + [result.source for result in results]
    summary_path = None
    if summary is not False:
        summary_path = Path(summary) if summary else out_dir / f"{SUMMARY_NAME}.json"
        check_summary_target(summary_path, sources, overwrite=overwrite, default=not summary, out_dir=out_dir)
    batch = BatchSummary(results)
    tracker = ProgressTracker(len(jobs), progress)
    try:
        # the runner first: an unreachable scheduler leaves neither a folder nor a summary
        with job_runner(jobs, options, client, scheduler, workers, tracker) as (finished, batch.runner):
            prepare_folders(jobs, out_dir)
            try:
                for result in finished:
                    results.append(result)
                    tracker.finished(result)
            except KeyboardInterrupt:
                batch.interrupted = True
            except ClusterLostError as err:
                batch.stopped = str(err)
            finally:
                finished.close()
                _close_unfinished(batch, jobs)
                batch.seconds = round(time.perf_counter() - started, 3)
                if summary_path is not None:
                    batch.write(summary_path, sources=sources)
    except KeyboardInterrupt:  # while the cluster starts or closes
        batch.interrupted = True
    finally:
        tracker.close()
    return batch


def _close_unfinished(batch: BatchSummary, jobs: list[Job]) -> None:
    """A row for each job without a result: the batch was stopped before it finished."""
    finished = {result.source for result in batch.results}
    why = batch.stopped or "interrupted"
    for job in jobs:
        if str(job.source) not in finished:
            batch.results.append(
                FileResult(str(job.source), str(job.output), UNFINISHED, f"not finished: {why}")
            )


def _checked_threads(threads) -> int | None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        from ..core.errors import EnhanceError

        raise EnhanceError(f"threads must be a whole number of at least 1, not {threads!r}.")
    return threads


def _for_workers(settings):
    """`settings` with its files as absolute paths: workers may run in another folder."""
    from ..core.bundled import SHIPPED_MODELS

    changes = {}
    if settings.weights and settings.weights not in SHIPPED_MODELS:
        changes["weights"] = os.path.abspath(settings.weights)
    if isinstance(settings.profile, str):
        changes["profile"] = os.path.abspath(settings.profile)
    return settings.replace(**changes) if changes else settings


def run_from_cli(args, settings, output) -> int:
    """``napari-darkvision enhance IN... -o OUT_DIR`` with the command line's `settings` and `output`
    settings: 0 if no file failed, 1 if some did (or the summary could not be written), 128 + the
    signal after Ctrl-C or SIGTERM; the report either way."""
    if not args.output:
        raise OutputError("A batch writes into a folder: name it with -o OUT_DIR.")
    with _sigterm_as_interrupt() as received:
        batch = _run(
            args.input,
            args.output,
            settings,
            output,
            format=args.format or "png",
            recursive=args.recursive,
            client=None,
            progress=False if args.quiet else None,
            scheduler=args.scheduler,
            workers=args.workers,
            threads=args.threads,
            summary=args.summary,
            include_outputs=args.include_outputs,
        )
    print(batch.report())
    if batch.summary_error:
        print(f"napari-darkvision: error: {batch.summary_error}", file=sys.stderr)
    if batch.interrupted:
        return 128 + (received[0] or signal.SIGINT)
    return 0 if batch.ok else SOME_FAILED


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's or a service's stop) ends the batch as Ctrl-C does: summary written.
    Yields a list that holds the signal's number once it came."""
    received: list[int | None] = [None]
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(number, frame) -> None:
        received[0] = number
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)

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
import time
from pathlib import Path

from ..core.errors import MissingInputError, OutputError
from ..core.output import OUTPUT_FORMATS
from ..core.parameters import check_dng_compression
from .execute import SchedulerError, _runner, _Tracker, enhance_file, local_cluster_size
from .plan import FORMATS, collect_inputs, plan_jobs, prepare_folders
from .summary import SUMMARY_NAME, BatchSummary, FileResult, Job

#: Exit status of a batch in which some file failed (0: none did; 2: the batch could not start).
SOME_FAILED = 1

__all__ = ["FORMATS", "BatchSummary", "FileResult", "Job", "SchedulerError", "collect_inputs", "enhance_file",
           "enhance_many", "local_cluster_size", "plan_jobs", "run_from_cli"]  # fmt: skip


def enhance_many(paths, out_dir, *, ratio="auto", stretch=False, weights=None, device=None, format="png",
                 overwrite=False, recursive=False, client=None, progress=None, scheduler=None, workers=None,
                 threads=None, summary=None, dng_compression="ljpeg", **enhance_options) -> BatchSummary:  # fmt: skip
    """Enhance many raws into `out_dir`; returns the :class:`BatchSummary` (also written there).

    Parameters
    ----------
    paths
        Raw files, folders, glob patterns and ``.txt`` files listing paths (one a line).
    out_dir
        The output folder (made if missing); outputs are ``<stem>_darkvision.<format>``, in the
        input folder's sub-folders when `recursive`.
    ratio, stretch, weights, device, **enhance_options
        As for :func:`~napari_darkvision.enhance`, for every file.
    format
        "png", "tif" or "dng".
    overwrite
        Replace outputs present; by default they are skipped (a rerun finishes an interrupted run).
    client
        A ``distributed.Client`` to run on. Without it: `scheduler` (an address, or "none" for
        this process only), else Dask's ``scheduler-address`` setting, else a local cluster of
        `workers` processes (default: sized to the machine); this process without dask.
    progress
        True/False for a progress bar (None: tqdm's default), or a callable given each FileResult.
    threads
        Torch threads per file (default: the cores shared by the tasks that run at once).
    summary
        Where to write the summary JSON (CSV beside it); default ``out_dir/darkvision-summary.json``;
        False writes none.
    dng_compression
        How DNG outputs store the mosaic: "ljpeg" (lossless JPEG) or "none".

    Raises
    ------
    DarkvisionError
        For a bad parameter, an unusable output folder or scheduler, or no input at all; a bad file
        only fails its own row.
    """
    options = _check_options(ratio, stretch, weights, device, overwrite, threads, enhance_options)
    options["dng_compression"] = check_dng_compression(dng_compression)  # before any file is read
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() in OUTPUT_FORMATS or out_dir.is_file():
        raise OutputError(f"The output of a batch is a folder, not the file {out_dir}.")
    started = time.perf_counter()
    jobs, results = plan_jobs(paths, out_dir, format=format, recursive=recursive, overwrite=overwrite)
    if not jobs and not results:
        raise MissingInputError("No raw file to enhance in the inputs given.")
    prepare_folders(jobs)
    batch = BatchSummary(results)
    tracker = _Tracker(len(jobs), progress)
    try:
        with _runner(jobs, options, client, scheduler, workers, tracker) as (finished, batch.runner):
            for result in finished:
                results.append(result)
                tracker.finished(result)
    except KeyboardInterrupt:
        batch.interrupted = True
        raise
    finally:
        tracker.close()
        batch.seconds = round(time.perf_counter() - started, 3)
        _write_summary(batch, out_dir, summary)
    return batch


def _write_summary(batch: BatchSummary, out_dir: Path, summary) -> None:
    """The summary's JSON and CSV, where asked; an interrupted run writes what it can."""
    if summary is False or not out_dir.is_dir():
        return
    with contextlib.suppress(OutputError) if batch.interrupted else contextlib.nullcontext():
        batch.write(summary or out_dir / f"{SUMMARY_NAME}.json")


def _check_options(ratio, stretch, weights, device, overwrite, threads, extra) -> dict:
    """Every parameter checked before any file is read or torch imported."""
    from ..core.parameters import check_device, check_flag, check_strength
    from ..core.pipeline import validate_ratio

    validate_ratio(ratio)
    if "strength" in extra:
        extra = {**extra, "strength": check_strength(extra["strength"])}
    check_flag(stretch, "stretch")
    check_flag(overwrite, "overwrite")
    check_device(device)
    if weights and not Path(weights).is_file():
        from ..core.errors import MissingWeightsError

        raise MissingWeightsError(f"No model weights at {weights}.")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        from ..core.errors import EnhanceError

        raise EnhanceError(f"threads must be a whole number of at least 1, not {threads!r}.")
    weights = os.path.abspath(weights) if weights else None  # workers may run elsewhere
    enhance = dict(ratio=ratio, stretch=stretch, weights=weights, device=device, **extra)
    return {"overwrite": overwrite, "threads": threads, "enhance": enhance}


def run_from_cli(args) -> int:
    """``napari-darkvision enhance IN... -o OUT_DIR``: 0 if no file failed, 1 if some did."""
    if not args.output:
        raise OutputError("A batch writes into a folder: name it with -o OUT_DIR.")
    extra = {}  # options of other issues (strength, camera profile): passed on only when given
    if getattr(args, "strength", None) not in (None, "1", "1.0", 1.0):
        extra["strength"] = args.strength
    if getattr(args, "profile", None):
        extra["profile"] = os.path.abspath(args.profile)
    summary = enhance_many(args.input, args.output, ratio=args.ratio, stretch=args.stretch,
                           weights=args.weights, device=args.device, format=getattr(args, "format", None) or "png",
                           overwrite=args.overwrite, recursive=getattr(args, "recursive", False),
                           progress=False if args.quiet else None, scheduler=getattr(args, "scheduler", None),
                           workers=getattr(args, "workers", None), threads=getattr(args, "threads", None),
                           summary=getattr(args, "summary", None), dng_compression=args.dng_compression,
                           **extra)  # fmt: skip
    print(summary.report())
    return 0 if summary.ok else SOME_FAILED

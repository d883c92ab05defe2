"""What a batch did: a :class:`FileResult` per input, gathered in a :class:`BatchSummary` that
is printed and written as JSON and CSV."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import OutputError, OutputExistsError
from ..core.output import check_output, same_file, write_atomically

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
#: Not enhanced: an input that is an output of napari-darkvision; or a file a stopped run left.
IGNORED, UNFINISHED = "ignored", "unfinished"
#: The summary's file name in the output folder (``.json`` and ``.csv``).
SUMMARY_NAME = "darkvision-summary"
#: Written in every summary's JSON: a file with it may be replaced by the next run's.
SUMMARY_FORMAT = "napari-darkvision batch summary"


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass
class FileResult:
    """What became of one input: ``status`` is "done", "skipped", "ignored", "failed" or
    "unfinished", with a ``reason`` (for a file done: what the readers said on the way, if anything)."""

    source: str
    output: str
    status: str
    reason: str = ""
    seconds: float | None = None
    worker: str = ""
    torch_threads: int | None = None
    peak_memory_mb: float | None = None  # of the process that ran it, so far


@dataclass
class BatchSummary:
    """The outcome of a batch: one :class:`FileResult` per input, the run's time and where it ran."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    runner: str = ""
    interrupted: bool = False
    stopped: str = ""  # why the batch ended before its files did (a cluster without workers)
    files: tuple[str, ...] = ()  # where the summary was written (JSON, CSV)
    summary_error: str = ""  # why it could not be

    def _with(self, status: str) -> list[FileResult]:
        return [result for result in self.results if result.status == status]

    done = property(lambda self: self._with(DONE))
    skipped = property(lambda self: self._with(SKIPPED))
    ignored = property(lambda self: self._with(IGNORED))
    failed = property(lambda self: self._with(FAILED))
    unfinished = property(lambda self: self._with(UNFINISHED))
    ok = property(lambda self: not (self.failed or self.unfinished or self.interrupted or self.summary_error))

    @property
    def files_per_minute(self) -> float:
        return 60.0 * len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def write(self, json_path: str | os.PathLike, sources=()) -> tuple[str, str]:
        """Write the summary as JSON at `json_path` and as CSV beside it, each whole or not at all,
        never over one of `sources`. If either cannot be written, ``summary_error`` says why and
        neither is left from an earlier run (as if it were this one's)."""
        json_path = Path(json_path)
        csv_path = json_path.with_suffix(".csv")
        document = {"format": SUMMARY_FORMAT, "written": datetime.datetime.now().astimezone().isoformat()}
        document.update(
            {key: value for key, value in asdict(self).items() if key not in ("files", "summary_error")}
        )
        document.update(
            done=len(self.done),
            skipped=len(self.skipped),
            ignored=len(self.ignored),
            failed=len(self.failed),
            unfinished=len(self.unfinished),
            files_per_minute=round(self.files_per_minute, 2),
        )
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=list(asdict(FileResult("", "", "")).keys()))
        writer.writeheader()
        writer.writerows(asdict(result) for result in self.results)
        written = []
        try:
            for path, text in (
                (json_path, json.dumps(document, indent=1) + "\n"),
                (csv_path, table.getvalue()),
            ):
                write_atomically(
                    path, _text_writer(text), overwrite=True, sources=sources, formats=[path.suffix.lower()]
                )
                written.append(path)
        except OutputError as err:
            self.summary_error = f"The summary was not written: {err}"
            for path in (json_path, csv_path):
                if path not in written:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)  # a previous run's: it would pass for this one's
            return ()
        self.files = (str(json_path), str(csv_path))
        return self.files

    def report(self, limit: int = 20) -> str:
        """A few lines for a person: the counts, the failures (the first `limit`) and the files."""
        lines = [
            f"{len(self.done)} done, {len(self.skipped)} skipped (output present), {len(self.failed)} "
            f"failed in {self.seconds:.1f} s ({self.files_per_minute:.1f} files/min, {self.runner})"
        ]
        if self.ignored:
            lines.append(
                f"  ignored: {len(self.ignored)} files written by napari-darkvision (--include-outputs "
                "enhances them again)"
            )
        lines += [f"  failed: {Path(r.source).name}: {r.reason}" for r in self.failed[:limit]]
        if len(self.failed) > limit:
            lines.append(f"  ... and {len(self.failed) - limit} more")
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        if self.unfinished:
            names = ", ".join(Path(r.source).name for r in self.unfinished[:limit])
            more = f" and {len(self.unfinished) - limit} more" if len(self.unfinished) > limit else ""
            lines.append(f"  unfinished: {len(self.unfinished)} files ({names}{more})")
        if self.interrupted or self.unfinished:
            lines.append(
                ("interrupted: " if self.interrupted else "") + "rerun the same command to finish the rest"
            )
        if self.files:
            lines.append(f"summary: {self.files[0]} and {self.files[1]}")
        elif self.summary_error:
            lines.append(f"summary not written: {self.summary_error}")
        return "\n".join(lines)


def _text_writer(text: str):
    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(text)

    return write


def check_summary_target(json_path: Path, sources, *, overwrite: bool, default: bool, out_dir: Path) -> None:
    """OutputError now, before any work, for a summary that could not or should not be written:
    not ``.json``, over an input, in a folder that is not there (nor `out_dir`, made later), or over
    a file that is not a summary of ours without `overwrite`."""
    folder = json_path.absolute().parent
    if not folder.is_dir() and not folder.is_relative_to(Path(out_dir).absolute()):
        raise OutputError(f"The summary's folder {folder} does not exist.")
    if json_path.suffix.lower() != ".json":
        raise OutputError(
            f"The summary {json_path} must end in .json (its CSV is written beside it), not "
            f"{json_path.suffix or 'nothing'}."
        )
    for path in (json_path, json_path.with_suffix(".csv")):
        for source in sources:
            if same_file(path, source):
                raise OutputError(f"Refusing to write the summary over the input {os.fspath(source)!r}.")
        replaceable = overwrite or default or _is_our_summary(path)
        if os.path.lexists(path) and not replaceable:
            raise OutputExistsError(
                f"{path} exists and is not a napari-darkvision summary; pass --overwrite to replace it."
            )
        if path.parent.is_dir():  # an output folder still to be made is checked when it is
            check_output(path, sources=sources, overwrite=True, formats=[path.suffix.lower()])


def _is_our_summary(path: Path) -> bool:
    """A summary an earlier batch wrote (JSON with our format, or the CSV's header)."""
    try:
        with open(path, encoding="utf-8") as handle:
            if path.suffix.lower() == ".csv":
                return handle.readline().startswith("source,output,status,reason")
            document = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and (
        document.get("format") == SUMMARY_FORMAT or {"results", "runner", "files_per_minute"} <= set(document)
    )

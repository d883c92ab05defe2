"""What a batch did: a :class:`FileResult` per input, gathered in a :class:`BatchSummary` that
is printed and written as JSON and CSV."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import OutputError
from ..core.output import PARTIAL_SUFFIX

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
#: The summary's file name in the output folder (``.json`` and ``.csv``).
SUMMARY_NAME = "darkvision-summary"


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass
class FileResult:
    """What became of one input: ``status`` is "done", "skipped" or "failed" (with a ``reason``)."""

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
    files: tuple[str, ...] = ()  # where the summary was written (JSON, CSV)

    def _with(self, status: str) -> list[FileResult]:
        return [result for result in self.results if result.status == status]

    done = property(lambda self: self._with(DONE))
    skipped = property(lambda self: self._with(SKIPPED))
    failed = property(lambda self: self._with(FAILED))
    ok = property(lambda self: not self.failed and not self.interrupted)

    @property
    def files_per_minute(self) -> float:
        return 60.0 * len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def write(self, json_path: str | os.PathLike) -> tuple[str, str]:
        """Write the summary as JSON at `json_path` and as CSV beside it, each whole or not at all."""
        json_path = Path(json_path)
        csv_path = json_path.with_suffix(".csv")
        document = {key: value for key, value in asdict(self).items() if key != "files"}
        document.update(done=len(self.done), skipped=len(self.skipped), failed=len(self.failed),
                        files_per_minute=round(self.files_per_minute, 2))  # fmt: skip
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=list(asdict(FileResult("", "", "")).keys()))
        writer.writeheader()
        writer.writerows(asdict(result) for result in self.results)
        _write_text_atomically(json_path, json.dumps(document, indent=1) + "\n")
        _write_text_atomically(csv_path, table.getvalue())
        self.files = (str(json_path), str(csv_path))
        return self.files

    def report(self, limit: int = 20) -> str:
        """A few lines for a person: the counts, the failures (the first `limit`) and the files."""
        lines = [f"{len(self.done)} done, {len(self.skipped)} skipped (output present), {len(self.failed)} "
                 f"failed in {self.seconds:.1f} s ({self.files_per_minute:.1f} files/min, {self.runner})"]  # fmt: skip
        lines += [f"  failed: {Path(r.source).name}: {r.reason}" for r in self.failed[:limit]]
        if len(self.failed) > limit:
            lines.append(f"  ... and {len(self.failed) - limit} more")
        if self.interrupted:
            lines.append("interrupted: rerun the same command to finish the rest")
        if self.files:
            lines.append(f"summary: {self.files[0]} and {self.files[1]}")
        return "\n".join(lines)


def _write_text_atomically(path: Path, text: str) -> None:
    """Like core.output.write_atomically (temporary file, fsync, rename) for a non-image file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as err:
        raise OutputError(f"Cannot write the summary {path}: {err.strerror or err}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)

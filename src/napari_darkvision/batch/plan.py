"""What a batch is to do: inputs (files, folders, glob patterns, lists) to one job per file, each
with its output in the output folder; outputs present are skipped, clashes reported."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import time
from pathlib import Path

from ..core.errors import OutputError
from ..core.output import FORMAT_NAMES, OUTPUT_FORMATS, PARTIAL_SUFFIX, default_output
from ..core.raw import RAW_EXTENSIONS
from .summary import FAILED, IGNORED, SKIPPED, FileResult, Job

FORMATS = FORMAT_NAMES  # the name batch has exported
RAW_SUFFIXES = frozenset(f".{extension}" for extension in RAW_EXTENSIONS)
#: A temporary file of one of our outputs unchanged for this long is left over from a killed run
#: (a live writer touches its file within seconds); younger ones may belong to a concurrent run.
STALE_PARTIAL_S = 600


def collect_inputs(inputs, *, recursive: bool = False) -> tuple[list[tuple[Path, Path]], list[FileResult]]:
    """Expand `inputs` into (raw file, sub-folder for its output) pairs, and failures for inputs
    that name nothing (an empty folder, a pattern matching no raw, an unreadable list)."""
    found: list[tuple[Path, Path]] = []
    problems: list[FileResult] = []
    for item in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        _expand(os.fspath(item), recursive, found, problems, lists=True)
    return found, problems


def _is_raw(path: Path) -> bool:
    # hidden files are never photos: macOS's ._IMG_0001.ARW, our own temporary files
    return path.suffix.lower() in RAW_SUFFIXES and not path.name.startswith(".") and path.is_file()


def _expand(text: str, recursive: bool, found: list, problems: list, lists: bool) -> None:
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.glob("**/*" if recursive else "*") if _is_raw(p))
        found += [(p, p.parent.relative_to(path)) for p in files]
        if not files:
            hint = "" if recursive else " (--recursive also looks in its sub-folders)"
            problems.append(FileResult(text, "", FAILED, f"{text} contains no raw files{hint}."))
    elif lists and path.suffix.lower() == ".txt" and path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            problems.append(FileResult(text, "", FAILED, f"Cannot read the list {text}: {err}."))
            return
        for line in (line.strip() for line in lines):
            if line and not line.startswith("#"):  # relative paths are relative to the list
                _expand(os.fspath(path.parent / line), recursive, found, problems, lists=False)
    elif path.exists() or not any(c in text for c in "*?["):
        found.append((path, Path()))  # a file named explicitly: a missing one fails in its own row
    else:
        matches = sorted(match for match in _glob(text, recursive) if _is_raw(match))
        found += [(match, Path()) for match in matches]
        if not matches:
            problems.append(FileResult(text, "", FAILED, f"The pattern {text} matches no raw file."))


def _glob(pattern: str, recursive: bool) -> list[Path]:
    """The pattern's matches; a recursive ``**`` does not enter symlinked folders (pathlib's rule),
    where glob.glob's does and loops for ever on a link to a parent."""
    if not recursive or "**" not in pattern:
        return [Path(match) for match in glob.glob(pattern)]
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:fixed]) if fixed else Path()
    return list(root.glob(os.path.join(*parts[fixed:])))


def written_by_us(path: Path) -> bool:
    """A DNG that napari-darkvision enhanced: its Software tag names us and its ImageDescription
    says what was done (a DNG converted without enhancing has no such note). An output, not a photo."""
    if path.suffix.lower() != ".dng":
        return False
    import tifffile

    from ..core.metadata import software

    ours = software().rsplit(" ", 1)[0] + " "
    quiet = logging.getLogger("tifffile")
    was, quiet.disabled = quiet.disabled, True  # its complaints about odd files are not ours to print
    try:
        with tifffile.TiffFile(path) as tiff:
            tags = tiff.pages.first.tags
            made, note = (str(tags[code].value) if code in tags else "" for code in (305, 270))
    except Exception:  # noqa: BLE001 - unreadable here: the reader says why, in its own row
        return False
    finally:
        quiet.disabled = was
    return made.startswith(ours) and note.startswith(ours)


def plan_jobs(
    inputs,
    out_dir,
    *,
    format: str = "png",
    recursive: bool = False,
    overwrite: bool = False,
    include_outputs: bool = False,
) -> tuple[list[Job], list[FileResult]]:
    """The files to enhance, and the results known before any work: skipped, ignored (DNGs we
    wrote, unless `include_outputs`) and failed inputs."""
    suffix = f".{_check_format(format)}"
    out_dir = Path(out_dir).absolute()
    found, results = collect_inputs(inputs, recursive=recursive)
    sources_by_output: dict[Path, Path] = {}
    seen = set()
    for source, sub_folder in found:
        source = source.absolute()
        if os.path.realpath(source) in seen:
            continue
        seen.add(os.path.realpath(source))
        if not include_outputs and written_by_us(source):
            reason = "written by napari-darkvision (an output): --include-outputs enhances it again"
            results.append(FileResult(str(source), "", IGNORED, reason))
            continue
        output = out_dir / sub_folder / default_output(Path(source.name), suffix).name
        if output in sources_by_output:
            reason = f"Its output {output.name} is also {sources_by_output[output].name}'s: enhance one separately."
            results.append(FileResult(str(source), str(output), FAILED, reason))
        else:
            sources_by_output[output] = source
    outputs = {os.path.realpath(output) for output in sources_by_output}
    jobs = []
    for output, source in sources_by_output.items():
        if os.path.realpath(source) in outputs:
            continue  # another input's output (a DNG batch rerun with the input folder as -o)
        if not overwrite and os.path.lexists(output):
            results.append(FileResult(str(source), str(output), SKIPPED, "output exists"))
        else:
            jobs.append(Job(source, output))
    return jobs, results


def _check_format(format: str) -> str:
    name = str(format).lower().lstrip(".")
    name = {"tiff": "tif"}.get(name, name)
    if name not in FORMATS or f".{name}" not in OUTPUT_FORMATS:
        raise OutputError(f"Output format must be one of {', '.join(FORMATS)}, not {format!r}.")
    return name


def prepare_folders(jobs: list[Job], out_dir: Path) -> None:
    """Make the output folders; remove stale temporary files of this batch's outputs."""
    names_by_folder: dict[Path, set[str]] = {Path(out_dir): set()}
    for job in jobs:
        names_by_folder.setdefault(job.output.parent, set()).add(job.output.name)
    now = time.time()
    for folder, names in names_by_folder.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"Cannot make the output folder {folder}: {err.strerror or err}.") from None
        for entry in os.scandir(folder):  # temporary names are ".<output name>.<random><suffix>"
            target = entry.name[1 : -len(PARTIAL_SUFFIX)].rsplit(".", 1)[0]
            if entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX) and target in names:
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > STALE_PARTIAL_S:
                        os.unlink(entry.path)

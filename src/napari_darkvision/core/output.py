"""One way to write an output, for every writer (CLI, API, widget, napari writer, batch).

:func:`check_output` validates a target before any work is done: a known format, a folder that
exists and takes files, not a directory, not one of the inputs (by inode: hard links and
symlinks included), and not an existing file unless overwriting was asked for.
:func:`write_atomically` then writes to a temporary file beside the target, flushes it to disk
and moves it into place, so an output appears whole or not at all: a full disk, an error or a
Ctrl-C leave no partial file, and a previous good file survives a failed overwrite. Without
overwrite the move is exclusive (a hard link), so of two runs to one target the second gets
:class:`OutputExistsError` instead of silently replacing the first's result.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import OutputError, OutputExistsError

#: Output formats by file extension (lower case).
OUTPUT_FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dng": "dng"}
#: The names ``--format`` takes (a batch's outputs get this extension).
FORMAT_NAMES = ("png", "tif", "dng")

#: Temporary files end with this (and start with a dot), so a batch or a person can tell them.
PARTIAL_SUFFIX = ".darkvision-partial"


def default_output(source: str | os.PathLike, suffix: str = ".png") -> Path:
    """The naming rule of every door: ``<input stem>_darkvision<suffix>`` beside the input."""
    source = Path(source)
    return source.with_name(f"{source.stem}_darkvision{suffix}")


def output_format(target: str | os.PathLike, formats: Iterable[str] = OUTPUT_FORMATS) -> str:
    """The format of `target` by its extension; OutputError for one we do not write."""
    suffix = Path(target).suffix.lower()
    if suffix not in formats:
        raise OutputError(
            f"Output {os.fspath(target)!r} must end in {', '.join(formats)} (not {suffix or 'nothing'})."
        )
    return OUTPUT_FORMATS.get(suffix, suffix.lstrip("."))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both paths exist and name one file (same device and inode: through hard links
    and symlinks alike)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    target: str | os.PathLike,
    *,
    sources: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
    formats: Iterable[str] = OUTPUT_FORMATS,
) -> Path:
    """Validate `target` before work starts; returns it as a Path, or raises OutputError."""
    path = _check_target(target, sources, overwrite, formats)
    handle, probe = _temporary_beside(path)
    os.close(handle)
    os.unlink(probe)
    return path


def _check_target(target, sources, overwrite: bool, formats) -> Path:
    path = Path(target)
    output_format(path, formats)
    for source in sources:
        if source and same_file(path, source):
            raise OutputError(
                f"Refusing to write over the input {os.fspath(source)!r}: choose another output path."
            )
    if path.is_dir():
        raise OutputError(f"Output {os.fspath(path)!r} is a directory: give a file name.")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{os.fspath(path)} exists; pass --overwrite (overwrite=True) to replace it.")
    if not path.parent.is_dir():
        raise OutputError(f"Output folder {os.fspath(path.parent)!r} does not exist.")
    return path


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new hidden temporary file in the target's folder: also the real test that the folder
    takes files (os.access says yes to root on a read-only file system)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as err:
        raise OutputError(
            f"Cannot write to the folder {os.fspath(path.parent)!r}: {err.strerror or err}."
        ) from None


def write_atomically(
    target: str | os.PathLike,
    write: Callable[[str], None],
    *,
    overwrite: bool = False,
    sources: Iterable[str | os.PathLike] = (),
    formats: Iterable[str] = OUTPUT_FORMATS,
) -> Path:
    """Call ``write(temporary_path)`` to make the whole file, then move it to `target`.

    Checks the target first (:func:`check_output`). Whatever goes wrong while writing, disk full
    or KeyboardInterrupt included, the temporary file is removed and `target` is as it was."""
    sources = list(sources)
    path = _check_target(target, sources, overwrite, formats)
    handle, temporary = _temporary_beside(path)
    os.close(handle)
    try:
        try:
            write(temporary)
            os.chmod(temporary, _new_file_mode())  # mkstemp's 0600, else: as a plain open() would make it
            _flush_to_disk(temporary)
            for source in sources:  # an input replaced by the output's name meanwhile
                if source and same_file(path, source):
                    raise OutputError(f"Refusing to write over the input {os.fspath(source)!r}.")
            _publish(temporary, path, overwrite)
        except OSError as err:
            if isinstance(err, OutputError):
                raise
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OutputError(
                    f"Not enough space to write {os.fspath(path)}: nothing was written "
                    "(free some space or choose another folder)."
                ) from None
            raise OutputError(
                f"Cannot write {os.fspath(path)}: {err.strerror or err}; nothing was written."
            ) from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _flush_folder(path.parent)
    _remove_stale_partials(path)
    return path


def _remove_stale_partials(path: Path) -> None:
    """Temporary files of `path` left by a killed earlier write: the target is now whole."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            middle = entry.name[len(prefix) : -len(PARTIAL_SUFFIX)]  # mkstemp's random part
            named = entry.name.startswith(prefix) and entry.name.endswith(PARTIAL_SUFFIX)
            if named and middle and "." not in middle and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _publish(temporary: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if the target appeared meanwhile: no silent replacement
    except FileExistsError:
        raise OutputExistsError(
            f"{os.fspath(path)} was created by someone else meanwhile; not replaced."
        ) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if os.path.lexists(path):  # a file system without hard links: check, then move
            raise OutputExistsError(
                f"{os.fspath(path)} was created by someone else meanwhile; not replaced."
            ) from None
        os.replace(temporary, path)


def _new_file_mode() -> int:
    """0666 less the process's umask: the mode every other program's new file gets."""
    try:  # Linux tells it without changing it (os.umask would, for a moment, in every thread)
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _flush_to_disk(path: str) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _flush_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the file); not on Windows."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(folder or ".", os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

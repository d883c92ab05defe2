"""What can go wrong, for a person: one exception hierarchy shared by the API, the CLI, the widget,
the napari writer and batch runs.

Catch :class:`DarkvisionError` for everything the user can fix (a bad file, parameter, model,
device or output path); anything else is a bug. Each class also derives from the built-in
exception a caller would expect (``ValueError`` for bad values, ``OSError`` for outputs), so
code written against those keeps working.
"""

from __future__ import annotations


class DarkvisionError(Exception):
    """A problem the user can fix; the message says what and how, without a traceback."""


class RawReadError(DarkvisionError, ValueError):
    """An input that is not a Bayer raw we can enhance: a file or a hand-built ``RawImage``."""


class MissingInputError(RawReadError, FileNotFoundError):
    """The input file does not exist (or is not a file)."""


class EnhanceError(DarkvisionError, ValueError):
    """A bad parameter: ratio, stretch, strength, tile size, precision."""


class ModelError(DarkvisionError, ValueError):
    """Weights that cannot be used: missing, damaged, of another architecture, or non-finite;
    or a network whose output is not finite."""


class MissingWeightsError(ModelError, FileNotFoundError):
    """No weights file at the path given."""


class DeviceError(DarkvisionError, ValueError):
    """A device that is unknown or not present (``cuda`` without CUDA, ``mps`` off a Mac...)."""


class OutputError(DarkvisionError, OSError):
    """An output that cannot be written where asked: no such folder, read-only, a directory,
    the input itself, an unknown format, or the disk filled while writing."""


class OutputExistsError(OutputError, FileExistsError):
    """The output exists and overwriting was not asked for (or another run made it first)."""


class Cancelled(DarkvisionError):
    """The run was stopped by the user (Ctrl-C, Cancel); nothing was written."""


class CalibrationError(DarkvisionError, ValueError):
    """Dark frames that cannot make a camera profile (too few, of mixed cameras, sizes or
    settings), a file that is not a profile, or a profile that cannot apply to a shot."""


class BurstError(RawReadError):
    """Frames that cannot make one burst: fewer than two, or of another camera, size or colour
    filter than frame 0."""

"""The command line, ``napari-darkvision enhance | calibrate | demo | train | evaluate``: its
arguments (:mod:`.parser`) and what each command does (:mod:`.commands`), translating the
arguments into the core's settings."""

from .commands import INTERRUPTED, main, settings_from_args
from .parser import build_parser

__all__ = ["INTERRUPTED", "build_parser", "main", "settings_from_args"]

"""Whether there is a screen to draw on (napari's windows need one; Qt's offscreen platform
crashes on image layers, so without one the tests and benchmarks start again under Xvfb)."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """True on macOS and Windows, and on Linux where an X11 or Wayland display is set."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )

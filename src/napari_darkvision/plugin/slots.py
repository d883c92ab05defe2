"""The guard of every Qt handler of the napari face: no exception may escape into Qt (a scripted
viewer aborts), and a handler may arrive after napari deleted the widget it belongs to."""

from __future__ import annotations

import logging
from functools import wraps
from typing import Protocol

from napari.utils.notifications import show_error

from ..core.errors import DarkvisionError

logger = logging.getLogger(__name__)


class Guarded(Protocol):
    """What :func:`qt_slot` needs of the object whose methods it guards."""

    #: False once its Qt widgets are gone: touching them then would abort Python.
    alive: bool

    def on_destroyed(self, *_) -> None:
        """Stop what runs and touch no Qt widget again."""


def qt_slot(method):
    """For handlers of controls, worker and timer signals: our errors become an error
    notification and anything else one too; nothing runs once the object is no longer alive."""

    @wraps(method)
    def handler(self: Guarded, *args):
        if not self.alive:
            return None
        try:
            return method(self, *args)
        except DarkvisionError as err:
            show_error(f"napari-darkvision: {err}")
        except RuntimeError as err:
            if "deleted" in str(err):
                self.on_destroyed()
            else:
                report_unexpected(err)
        except Exception as err:  # noqa: BLE001 - shown, logged, never raised into Qt
            report_unexpected(err)
        return None

    return handler


def report_unexpected(err: Exception) -> None:
    logger.error("napari-darkvision widget error", exc_info=err)
    show_error(f"napari-darkvision: unexpected {type(err).__name__}: {err}")


def viewer_camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera

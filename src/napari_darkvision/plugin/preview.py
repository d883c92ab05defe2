"""The Enhance widget's live preview: the region of the raw the canvas shows (camera centre and
zoom, canvas size), enhanced at full resolution in a thread when the view or a control settles
(debounced), superseded by newer requests, into one preview layer; and the guard that keeps
every handler's exceptions out of Qt. A mixin of :class:`~napari_darkvision.plugin.widget.EnhanceWidget`.
"""

from __future__ import annotations

import logging
from functools import partial, wraps
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error

from ..core.errors import DarkvisionError
from .state import EnhanceRequest, result_metadata, result_name, visible_box
from .worker import Failure, Preview, preview_worker

if TYPE_CHECKING:
    from napari.qt.threading import FunctionWorker

logger = logging.getLogger(__name__)
PREVIEW_NAME = "darkvision preview"
#: Wait this long after the last change of a control or of the view before previewing (ms).
PREVIEW_DELAY_MS = 250


def _slot(method):
    """For handlers of controls, worker and timer signals: no exception may escape into Qt (a
    scripted viewer aborts), so ours become an error notification and anything else one too;
    and they can arrive after napari closed the widget, when touching it would abort Python."""

    @wraps(method)
    def handler(self, *args):
        if not self._alive:
            return None
        try:
            return method(self, *args)
        except DarkvisionError as err:
            show_error(f"napari-darkvision: {err}")
        except RuntimeError as err:
            if "deleted" in str(err):
                self._on_destroyed()
            else:
                _unexpected(err)
        except Exception as err:  # noqa: BLE001 - shown, logged, never raised into Qt
            _unexpected(err)
        return None

    return handler


def _unexpected(err: Exception) -> None:
    logger.error("napari-darkvision widget error", exc_info=err)
    show_error(f"napari-darkvision: unexpected {type(err).__name__}: {err}")


def _camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class LivePreview:
    """The preview half of the widget; expects ``viewer``, ``layer``, ``preview``, ``compare``,
    ``status``, ``worker``, ``_request()`` and ``_show_auto()`` from the widget."""

    preview_worker: FunctionWorker | None = None
    preview_layer = None
    _preview_pending = False
    _preview_scheduled = False
    _preview_cache: Preview | None = None  # the network's last preview, re-blended

    @property
    def preview_busy(self) -> bool:
        """A preview is due, waiting for a run, or running."""
        return self._preview_scheduled or self._preview_pending or self.preview_worker is not None

    @_slot
    def _on_view_changed(self, *_) -> None:
        if self.preview.value:
            self.schedule_preview()

    @_slot
    def schedule_preview(self, *_) -> None:
        """Refresh the preview once the controls and the view settle (debounced)."""
        if self.preview.value:
            self._preview_scheduled = True
            self._debounced_preview()
        else:
            self._debounced_preview.cancel()
            self._preview_scheduled = self._preview_pending = False
            self._remove_preview_layer()

    def _preview_due(self, *_) -> None:
        self._preview_scheduled = False
        self.update_preview()

    def view_box(self, layer) -> tuple[int, int, int, int]:
        """The region of `layer`'s data the canvas shows, as visible_box() limits it."""
        center = _camera(self.viewer).center[-2:]
        zoom = _camera(self.viewer).zoom
        height, width = self.viewer.canvas.size
        half = (height / 2 / zoom, width / 2 / zoom)
        corners = [(center[0] - half[0], center[1] - half[1]), (center[0] + half[0], center[1] + half[1])]
        data = [layer.world_to_data(list(corner))[-2:] for corner in corners]
        # pixel i covers data coordinates i - 0.5 to i + 0.5
        start = (data[0][0] + 0.5, data[0][1] + 0.5)
        stop = (data[1][0] + 0.5, data[1][1] + 0.5)
        return visible_box(layer.data.shape[-2:], start, stop)

    @_slot
    def update_preview(self) -> FunctionWorker | None:
        """Enhance the region the canvas shows with the current settings into the preview layer.

        While another run goes it waits for it, and the newest request supersedes the waiting
        one. Returns the started worker, or None. Problems go to the status line: a preview that
        follows every click must not pile up notifications."""
        if not self.preview.value:
            return None
        if self.worker is not None or self.preview_worker is not None:
            self._preview_pending = True
            return None
        self._preview_pending = False
        try:
            request = self._request(strength=0.0 if self.compare.value else None)
            box = self.view_box(self.layer.value)
        except DarkvisionError as err:
            self.status.value = f"no preview: {err}"
            self._remove_preview_layer()
            return None
        worker = preview_worker(request, box=box, cached=self._preview_cache)
        worker.returned.connect(partial(self._on_preview, request))
        worker.finished.connect(self._on_preview_finished)
        self.preview_worker = worker
        self.status.value = "previewing"
        worker.start()
        return worker

    @_slot
    def _on_preview(self, request: EnhanceRequest, returned: Preview | Failure) -> None:
        if isinstance(returned, Failure):
            self.status.value = returned.message
            return
        self._preview_cache = returned
        if not self.preview.value or self._preview_pending:
            return  # switched off, or superseded, while it ran
        result, (top, _, left, _) = returned.result, returned.box
        scale = request.source_scale or (1.0, 1.0)
        origin = request.source_translate or (0.0, 0.0)
        translate = (origin[0] + top * scale[0], origin[1] + left * scale[1])
        metadata = {**result_metadata(result, request.source_name), "preview_box": returned.box}
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.preview_layer.data = result.image
            self.preview_layer.metadata = metadata
            self.preview_layer.translate = translate
            self.preview_layer.scale = scale
        else:
            self.preview_layer = self.viewer.add_image(
                result.image,
                name=PREVIEW_NAME,
                rgb=True,
                contrast_limits=(0, 65535),
                metadata=metadata,
                scale=scale,
                translate=translate,
            )
        if request.ratio == "auto":
            self._show_auto(result.metadata)
        shown = "before: amplified input" if self.compare.value else "after"
        self.status.value = (
            f"preview ({shown}) {result_name(request.source_name, request.raw, result.metadata)}"
        )

    @_slot
    def _on_preview_finished(self) -> None:
        self.preview_worker = None
        if self._preview_pending:
            self.update_preview()

    def _remove_preview_layer(self) -> None:
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self.preview_layer)
        self.preview_layer = None

"""The Enhance widget's live preview: the region of the raw the canvas shows (camera centre and
zoom, canvas size; of a stack layer, the frame the dims slider shows), enhanced at full resolution in a thread when the view or a control settles
(debounced), superseded by newer requests, into one preview layer.

:class:`LivePreview` is a component the widget owns; it asks the widget only what
:class:`PreviewHost` names.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Protocol

from superqt.utils import qdebounced

from ..core.errors import DarkvisionError
from .slots import qt_slot, viewer_camera
from .state import EnhanceRequest, result_metadata, result_name, visible_box
from .worker import Failure, Preview, preview_worker

if TYPE_CHECKING:
    from napari.qt.threading import FunctionWorker

PREVIEW_NAME = "darkvision preview"
#: Wait this long after the last change of a control or of the view before previewing (ms).
PREVIEW_DELAY_MS = 250


class PreviewHost(Protocol):
    """What the live preview asks of the widget that owns it."""

    def preview_wanted(self) -> bool:
        """The live preview is switched on."""

    def shows_before(self) -> bool:
        """The preview shows the input amplified by the ratio (strength 0) instead of the result."""

    def enhancing(self) -> bool:
        """A full run is going: a preview waits for it."""

    def preview_request(self, strength: float | None) -> EnhanceRequest:
        """The controls' request, `strength` overriding theirs; DarkvisionError for bad input."""

    def source_layer(self):
        """The raw layer the request comes from (the canvas shows a region of it)."""

    def show_status(self, text: str) -> None:
        """Tell the user, in the status line."""

    def show_auto(self, metadata: dict) -> None:
        """Show the ratio "auto" chose, from a result's metadata."""


class LivePreview:
    """Previews into one layer of `viewer` what `host` asks for; `parent` owns its timer."""

    def __init__(self, viewer, host: PreviewHost, parent=None):
        self.viewer = viewer
        self.host = host
        self.alive = True
        self.worker: FunctionWorker | None = None
        self.layer = None
        #: A request came while a run went: it starts when that run finishes.
        self.pending = False
        self._scheduled = False
        self._cache: Preview | None = None  # the network's last preview, re-blended
        # one preview after a burst of changes (a drag of the slider, a pan)
        self._debounced = qdebounced(self._due, timeout=PREVIEW_DELAY_MS, parent=parent)
        self._view_events = (
            viewer_camera(viewer).events.center,
            viewer_camera(viewer).events.zoom,
            viewer.canvas.events.size,
            viewer.dims.events.current_step,  # another frame of a stack layer
        )
        for emitter in self._view_events:
            emitter.connect(self.on_view_changed)

    @property
    def busy(self) -> bool:
        """A preview is due, waiting for a run, or running."""
        return self._scheduled or self.pending or self.worker is not None

    @qt_slot
    def on_view_changed(self, *_) -> None:
        if self.host.preview_wanted():
            self.schedule()

    @qt_slot
    def schedule(self, *_) -> None:
        """Refresh the preview once the controls and the view settle (debounced); or, switched
        off, remove it."""
        if self.host.preview_wanted():
            self._scheduled = True
            self._debounced()
        else:
            self._debounced.cancel()
            self._scheduled = self.pending = False
            self.remove_layer()

    def _due(self, *_) -> None:
        self._scheduled = False
        self.update()

    def view_box(self, layer) -> tuple[int, int, int, int]:
        """The region of `layer`'s data the canvas shows, as visible_box() limits it."""
        camera = viewer_camera(self.viewer)
        center, zoom = camera.center[-2:], camera.zoom
        height, width = self.viewer.canvas.size
        half = (height / 2 / zoom, width / 2 / zoom)
        corners = [(center[0] - half[0], center[1] - half[1]), (center[0] + half[0], center[1] + half[1])]
        data = [layer.world_to_data(list(corner))[-2:] for corner in corners]
        # pixel i covers data coordinates i - 0.5 to i + 0.5
        start = (data[0][0] + 0.5, data[0][1] + 0.5)
        stop = (data[1][0] + 0.5, data[1][1] + 0.5)
        return visible_box(layer.data.shape[-2:], start, stop)

    @qt_slot
    def update(self) -> FunctionWorker | None:
        """Enhance the region the canvas shows with the current settings into the preview layer.

        While another run goes it waits for it, and the newest request supersedes the waiting
        one. Returns the started worker, or None. Problems go to the status line: a preview that
        follows every click must not pile up notifications."""
        if not self.host.preview_wanted():
            return None
        if self.host.enhancing() or self.worker is not None:
            self.pending = True
            return None
        self.pending = False
        try:
            request = self.host.preview_request(0.0 if self.host.shows_before() else None)
            box = self.view_box(self.host.source_layer())
        except DarkvisionError as err:
            self.host.show_status(f"no preview: {err}")
            self.remove_layer()
            return None
        worker = preview_worker(request, box=box, cached=self._cache)
        worker.returned.connect(partial(self._on_preview, request))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.host.show_status("previewing")
        worker.start()
        return worker

    @qt_slot
    def _on_preview(self, request: EnhanceRequest, returned: Preview | Failure) -> None:
        if isinstance(returned, Failure):
            self.host.show_status(returned.message)
            return
        self._cache = returned
        if not self.host.preview_wanted() or self.pending:
            return  # switched off, or superseded, while it ran
        result, (top, _, left, _) = returned.result, returned.box
        scale = request.source_scale or (1.0, 1.0)
        origin = request.source_translate or (0.0, 0.0)
        translate = (origin[0] + top * scale[0], origin[1] + left * scale[1])
        metadata = {**result_metadata(result, request.source_name), "preview_box": returned.box}
        if self.layer is not None and self.layer in self.viewer.layers:
            self.layer.data = result.image
            self.layer.metadata = metadata
            self.layer.translate = translate
            self.layer.scale = scale
        else:
            self.layer = self.viewer.add_image(
                result.image,
                name=PREVIEW_NAME,
                rgb=True,
                contrast_limits=(0, 65535),
                metadata=metadata,
                scale=scale,
                translate=translate,
            )
        if request.ratio == "auto":
            self.host.show_auto(result.metadata)
        shown = "before: amplified input" if self.host.shows_before() else "after"
        name = result_name(request.source_name, request.raw, result.metadata)
        self.host.show_status(f"preview ({shown}) {name}")

    @qt_slot
    def _on_finished(self) -> None:
        self.worker = None
        if self.pending:
            self.update()

    def remove_layer(self) -> None:
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.layer = None

    def on_destroyed(self, *_) -> None:
        """Its widget is gone: stop the timer and the run, follow the view no more."""
        self.alive = False
        with suppress(RuntimeError):  # the timer may already be deleted, e.g. at exit
            self._debounced.cancel()
        for emitter in self._view_events:
            emitter.disconnect(self.on_view_changed)
        if self.worker is not None:
            self.worker.quit()

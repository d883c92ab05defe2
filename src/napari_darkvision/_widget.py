"""The Enhance dock widget: pick a raw layer and an exposure ratio, run the U-Net in a thread,
get a new RGB layer. Parameters live in :mod:`._state`, the thread in :mod:`._worker`.

Scripts and benchmarks drive it through its controls (``layer``, ``ratio_preset``, ``ratio``,
``stretch``, ``weights``, ``enhance_button``, ``cancel_button``) or :meth:`EnhanceWidget.start`,
and follow ``widget.worker`` and ``widget.last_result_layer``.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial, wraps
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
)
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer

from ._state import (
    CUSTOM,
    PRESET_NAMES,
    RATIO_PRESETS,
    EnhanceRequest,
    is_raw_layer,
    raw_from_layer,
    requested_ratio,
    result_metadata,
    result_name,
    weights_path,
)
from ._worker import Failure, enhance_worker, preview_worker
from .core.pipeline import MAX_RATIO, MIN_RATIO, Enhanced, EnhanceError, Progress, validate_ratio
from .core.raw import RawReadError

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import FunctionWorker, GeneratorWorker

STAGE_TEXT = {
    "read": "preparing the raw",
    "network": "network: tile {done} of {total}",
    "render": "rendering with LibRaw",
    "done": "done",
}
PREVIEW_NAME = "darkvision preview"
#: Wait this long after the last change of a control before previewing (milliseconds).
PREVIEW_DELAY_MS = 300


def _slot(method):
    """For handlers of worker and timer signals: they can arrive after napari closed the widget
    (the worker finishes its tile first), when touching a deleted Qt widget would abort Python."""

    @wraps(method)
    def handler(self, *args):
        if not self._alive:
            return None
        try:
            return method(self, *args)
        except RuntimeError as err:
            if "deleted" not in str(err):
                raise
            self._on_destroyed()
            return None

    return handler


class EnhanceWidget(Container):
    """Enhance an extreme low-light raw with the U-Net, without blocking napari."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._alive = True
        self.worker: GeneratorWorker | None = None
        self._cancelling = False
        self.preview_worker: FunctionWorker | None = None
        self.preview_layer = None
        self._preview_pending = False
        self.last_result_layer = None
        # Import torch while the widget docks: imported by the worker thread on the first run, it
        # holds the interpreter lock for ~0.3 s and freezes the viewer mid-run (benchmarks/).
        import torch  # noqa: F401

        self.layer = ComboBox(
            name="layer",
            label="Raw layer",
            choices=self._raw_layer_choices,
            tooltip="A camera raw opened with the napari-darkvision reader (the Bayer mosaic).",
        )
        self.ratio_preset = ComboBox(
            name="ratio_preset",
            label="Exposure ratio",
            choices=PRESET_NAMES,
            value="auto",
            tooltip=(
                "How much to brighten: the long exposure you want divided by the one you took "
                "(SID uses x100, x250, x300). 'auto' estimates it from the raw."
            ),
        )
        self.ratio = FloatSpinBox(
            name="ratio",
            label="Custom ratio",
            min=MIN_RATIO,
            max=MAX_RATIO,
            step=10.0,
            value=100.0,
            enabled=False,
            tooltip=f"Exposure ratio for 'custom', {MIN_RATIO:g} to {MAX_RATIO:g}.",
        )
        self.stretch = CheckBox(
            name="stretch",
            text="Histogram stretch",
            value=False,
            tooltip=(
                "Histogram stretch applied after the network: maps the 0.5-99.5 percentiles to "
                "the full range. Brighter and punchier, but no longer the exposure you asked for."
            ),
        )
        self.weights = FileEdit(
            name="weights",
            label="Weights",
            mode="r",
            filter="*.safetensors",
            nullable=True,
            tooltip="Other U-Net weights (.safetensors); empty = the model shipped with the plugin.",
        )
        self.preview = CheckBox(
            name="preview",
            text="Live preview (centre, 1 MP)",
            value=False,
            tooltip=(
                "Enhance the centre of the raw whenever a setting changes, into a temporary "
                f"'{PREVIEW_NAME}' layer: to choose the ratio before enhancing everything."
            ),
        )
        self.enhance_button = PushButton(name="enhance_button", text="Enhance")
        self.cancel_button = PushButton(
            name="cancel_button", text="Cancel", enabled=False, tooltip="Stop after the current tile."
        )
        self.progress = ProgressBar(name="progress", label="Progress", min=0, max=1, value=0)
        self.status = Label(name="status", label="Status", value="")
        self.extend(
            [
                self.layer,
                self.ratio_preset,
                self.ratio,
                self.stretch,
                self.weights,
                self.preview,
                self.enhance_button,
                self.cancel_button,
                self.progress,
                self.status,
            ]
        )
        self._controls = (self.layer, self.ratio_preset, self.stretch, self.weights, self.enhance_button)

        self.ratio_preset.changed.connect(self._on_preset)
        self.native.destroyed.connect(self._on_destroyed)
        self._preview_timer = QTimer(self.native)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.update_preview)
        for control in (self.layer, self.ratio_preset, self.ratio, self.stretch, self.weights, self.preview):
            control.changed.connect(self._schedule_preview)
        self.enhance_button.changed.connect(lambda *_: self.start())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        layers = self.viewer.layers.events
        layers.inserted.connect(self._on_layer_inserted)
        layers.removed.connect(self.reset_choices)
        layers.moved.connect(self.reset_choices)
        for existing in self.viewer.layers:
            existing.events.name.connect(self.reset_choices)
        self.reset_choices()

    # -- layers ---------------------------------------------------------------------------------

    def _raw_layer_choices(self, _widget=None) -> list[tuple[str, object]]:
        return [(layer.name, layer) for layer in self.viewer.layers if is_raw_layer(layer)]

    def _on_layer_inserted(self, event) -> None:
        event.value.events.name.connect(self.reset_choices)
        self.reset_choices()

    # -- controls -------------------------------------------------------------------------------

    def _on_preset(self, preset: str) -> None:
        value = RATIO_PRESETS.get(preset)
        if value is not None:
            # switching to "custom" then starts from the last preset
            self.ratio.value = value
        self.ratio.enabled = preset == CUSTOM and self.worker is None

    def _set_running(self, running: bool) -> None:
        for control in self._controls:
            control.enabled = not running
        self.ratio.enabled = not running and self.ratio_preset.value == CUSTOM
        self.cancel_button.enabled = running

    # -- running --------------------------------------------------------------------------------

    def start(
        self, layer=None, ratio=None, stretch: bool | None = None, weights=None
    ) -> GeneratorWorker | None:
        """Enhance, as the button does; arguments override the controls (for scripts).

        Returns the started worker, or None (with an error notification) if the request is
        not valid. `ratio` may be a number or "auto".
        """
        if self.worker is not None:
            show_warning("napari-darkvision: an enhancement is already running; cancel it first.")
            return None
        try:
            request = self._request(layer, ratio, stretch, weights)
        except (EnhanceError, RawReadError) as err:
            show_error(f"napari-darkvision: {err}")
            return None
        worker = enhance_worker(request)
        self._cancelling = False
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(partial(self._on_returned, request))
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.progress.max, self.progress.value = 1, 0
        self.status.value = "starting"
        self._set_running(True)
        worker.start()
        return worker

    def _request(self, layer=None, ratio=None, stretch=None, weights=None) -> EnhanceRequest:
        """The request from the controls, overridden by the arguments; raises for bad input."""
        layer = self.layer.value if layer is None else layer
        raw = raw_from_layer(layer)
        if ratio is None:
            chosen = requested_ratio(self.ratio_preset.value, self.ratio.value)
        else:
            value = validate_ratio(ratio)
            chosen = "auto" if value is None else value
        return EnhanceRequest(
            raw=raw,
            source_name=layer.name,
            ratio=chosen,
            stretch=bool(self.stretch.value if stretch is None else stretch),
            weights=weights_path(self.weights.value if weights is None else weights),
            source_scale=tuple(layer.scale),
            source_translate=tuple(layer.translate),
        )

    def cancel(self) -> None:
        """Stop the running enhancement after the current tile; adds no layer."""
        if self.worker is not None:
            self._cancelling = True
            self.status.value = "cancelling after this tile"
            self.cancel_button.enabled = False
            self.worker.quit()

    def _on_destroyed(self, *_) -> None:
        """The widget is gone (closed viewer or dock): stop what runs, touch no Qt widget again."""
        self._alive = False
        with suppress(RuntimeError):  # the timer may already be deleted, e.g. at exit
            self._preview_timer.stop()
        for worker in (self.worker, self.preview_worker):
            if worker is not None:
                worker.quit()

    @_slot
    def _on_progress(self, step: Progress) -> None:
        if self._cancelling:
            return  # events queued before the worker saw the request
        if step.stage == "network":
            self.progress.max = max(1, step.total)
            self.progress.value = step.done
        elif step.stage == "done":
            self.progress.value = self.progress.max
        self.status.value = STAGE_TEXT.get(step.stage, step.stage).format(done=step.done, total=step.total)

    @_slot
    def _on_returned(self, request: EnhanceRequest, result: Enhanced | Failure) -> None:
        if isinstance(result, Failure):
            self.status.value = "failed"
            show_error(f"napari-darkvision: {result.message}")
            return
        metadata = result_metadata(result.metadata, request.source_name)
        self.last_result_layer = self.viewer.add_image(
            result.image,
            name=result_name(request.source_name, request.raw, result.metadata),
            rgb=True,
            contrast_limits=(0, 65535),
            metadata=metadata,
            scale=request.source_scale or None,
            translate=request.source_translate or None,
        )
        self.status.value = f"done in {metadata.get('seconds', 0):.1f} s on {metadata.get('device', '?')}"

    @_slot
    def _on_aborted(self) -> None:
        self.status.value = "cancelled"
        show_info("napari-darkvision: enhancement cancelled.")

    @_slot
    def _on_finished(self) -> None:
        if self.status.value in ("cancelled", "failed"):
            self.progress.value = 0
        self.worker = None
        self._cancelling = False
        self._set_running(False)
        if self._preview_pending:
            self._schedule_preview()

    # -- live preview ---------------------------------------------------------------------------

    def _schedule_preview(self, *_) -> None:
        if self.preview.value:
            self._preview_timer.start()  # restarts: one preview after a burst of changes
        else:
            self._preview_timer.stop()
            self._preview_pending = False
            self._remove_preview_layer()

    @_slot
    def update_preview(self) -> FunctionWorker | None:
        """Enhance the centre region with the current settings into the preview layer.

        Runs after the controls settle; while another run is going it waits for it. Returns
        the started worker, or None. Problems go to the status line: a preview that follows
        every click must not pile up notifications."""
        if not self.preview.value:
            return None
        if self.worker is not None or self.preview_worker is not None:
            self._preview_pending = True
            return None
        self._preview_pending = False
        try:
            request = self._request()
        except (EnhanceError, RawReadError) as err:
            self.status.value = f"no preview: {err}"
            self._remove_preview_layer()
            return None
        worker = preview_worker(request)
        worker.returned.connect(partial(self._on_preview, request))
        worker.finished.connect(self._on_preview_finished)
        self.preview_worker = worker
        self.status.value = "previewing"
        worker.start()
        return worker

    @_slot
    def _on_preview(self, request: EnhanceRequest, returned) -> None:
        result, (top, _, left, _) = returned
        if isinstance(result, Failure):
            self.status.value = result.message
            return
        if not self.preview.value:
            return  # switched off while it ran
        scale = request.source_scale or (1.0, 1.0)
        origin = request.source_translate or (0.0, 0.0)
        translate = (origin[0] + top * scale[0], origin[1] + left * scale[1])
        metadata = result_metadata(result.metadata, request.source_name)
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
        self.status.value = f"preview {result_name(request.source_name, request.raw, result.metadata)}"

    @_slot
    def _on_preview_finished(self) -> None:
        self.preview_worker = None
        if self._preview_pending:
            self.update_preview()

    def _remove_preview_layer(self) -> None:
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self.preview_layer)
        self.preview_layer = None

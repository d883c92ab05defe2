"""The Enhance dock widget: pick a raw layer and an exposure ratio, run the U-Net in a thread,
get a new RGB layer. Parameters live in :mod:`._state`, the thread in :mod:`._worker`.

Scripts and benchmarks drive it through its controls (``layer``, ``ratio_preset``, ``ratio``,
``stretch``, ``weights``, ``enhance_button``, ``cancel_button``) or :meth:`EnhanceWidget.start`,
and follow ``widget.worker`` and ``widget.last_result_layer``.
"""

from __future__ import annotations

from functools import partial
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
from ._worker import Failure, enhance_worker
from .core.pipeline import MAX_RATIO, MIN_RATIO, Enhanced, EnhanceError, Progress, validate_ratio
from .core.raw import RawReadError

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

STAGE_TEXT = {
    "read": "preparing the raw",
    "network": "network: tile {done} of {total}",
    "render": "rendering with LibRaw",
    "done": "done",
}


class EnhanceWidget(Container):
    """Enhance an extreme low-light raw with the U-Net, without blocking napari."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker: GeneratorWorker | None = None
        self._cancelling = False
        self.last_result_layer = None

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
                self.enhance_button,
                self.cancel_button,
                self.progress,
                self.status,
            ]
        )
        self._controls = (self.layer, self.ratio_preset, self.stretch, self.weights, self.enhance_button)

        self.ratio_preset.changed.connect(self._on_preset)
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
        layer = self.layer.value if layer is None else layer
        try:
            raw = raw_from_layer(layer)
            if ratio is None:
                chosen = requested_ratio(self.ratio_preset.value, self.ratio.value)
            else:
                value = validate_ratio(ratio)
                chosen = "auto" if value is None else value
            weights = weights_path(self.weights.value if weights is None else weights)
        except (EnhanceError, RawReadError) as err:
            show_error(f"napari-darkvision: {err}")
            return None
        request = EnhanceRequest(
            raw=raw,
            source_name=layer.name,
            ratio=chosen,
            stretch=bool(self.stretch.value if stretch is None else stretch),
            weights=weights,
            source_scale=tuple(layer.scale),
            source_translate=tuple(layer.translate),
        )
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

    def cancel(self) -> None:
        """Stop the running enhancement after the current tile; adds no layer."""
        if self.worker is not None:
            self._cancelling = True
            self.status.value = "cancelling after this tile"
            self.cancel_button.enabled = False
            self.worker.quit()

    def _on_progress(self, step: Progress) -> None:
        if self._cancelling:
            return  # events queued before the worker saw the request
        if step.stage == "network":
            self.progress.max = max(1, step.total)
            self.progress.value = step.done
        elif step.stage == "done":
            self.progress.value = self.progress.max
        self.status.value = STAGE_TEXT.get(step.stage, step.stage).format(done=step.done, total=step.total)

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

    def _on_aborted(self) -> None:
        self.status.value = "cancelled"
        show_info("napari-darkvision: enhancement cancelled.")

    def _on_finished(self) -> None:
        if self.status.value in ("cancelled", "failed"):
            self.progress.value = 0
        self.worker = None
        self._cancelling = False
        self._set_running(False)

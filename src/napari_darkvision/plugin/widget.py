"""The Enhance dock widget: pick a raw layer and an exposure ratio, run the U-Net in a thread,
get a new RGB layer; a live preview of the region the canvas shows, a strength and a
before/after toggle. A stack layer (several raws of one camera) is merged as a burst: all its
frames or a window around the current one, the current frame the reference. Parameters live in
:mod:`.state`, the threads in :mod:`.worker`, the live preview in :mod:`.preview` (a component
the widget owns, :attr:`EnhanceWidget.live`).

Scripts and benchmarks drive it through its controls (``layer``, ``burst``, ``burst_window``,
``ratio_preset``, ``ratio``, ``strength``, ``stretch``, ``model``, ``weights``, ``preview``,
``compare``, ``enhance_button``, ``cancel_button``) or :meth:`EnhanceWidget.start`, and follow
``widget.worker``, ``widget.preview_busy``, ``widget.preview_layer`` and
``widget.last_result_layer``.
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
    Slider,
    SpinBox,
)
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info, show_warning

from ..core.bundled import DEFAULT_MODEL, SHIPPED_MODELS
from ..core.errors import DarkvisionError
from ..core.parameters import MAX_RATIO, MIN_RATIO
from ..core.pipeline import Enhanced, Progress
from .preview import PREVIEW_NAME, LivePreview
from .slots import qt_slot
from .state import (
    BURST_ALL,
    BURST_AROUND,
    BURST_MODES,
    CUSTOM,
    PRESET_NAMES,
    RATIO_PRESETS,
    EnhanceRequest,
    burst_frames,
    chosen_path,
    current_frame,
    is_raw_layer,
    is_stack_layer,
    raw_from_layer,
    requested_ratio,
    result_metadata,
    result_name,
    source_key,
    user_metadata,
)
from .worker import Failure, enhance_worker

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

STAGE_TEXT = {
    "read": "preparing the raw",
    "align": "burst: frame {done} of {total} aligned",
    "merge": "burst: frame {done} of {total} merged",
    "network": "network: tile {done} of {total}",
    "render": "rendering with LibRaw",
    "done": "done",
}
__all__ = ["PREVIEW_NAME", "EnhanceWidget"]


class EnhanceWidget(Container):
    """Enhance an extreme low-light raw with the U-Net, without blocking napari."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.alive = True
        self.worker: GeneratorWorker | None = None
        self._cancelling = False
        self._activity = None  # napari.utils.progress of the running enhancement
        self._full_cache: tuple[tuple, Enhanced] | None = None  # the last full run's network
        self.last_result_layer = None
        # Import torch while the widget docks: imported by the worker thread on the first run, it
        # holds the interpreter lock for ~0.3 s and freezes the viewer mid-run (benchmarks/).
        import torch  # noqa: F401

        self.extend([*self._source_controls(), *self._look_controls(), *self._preview_controls()])
        self.extend(self._run_controls())
        self._controls = (
            self.layer,
            self.burst,
            self.burst_window,
            self.ratio_preset,
            self.stretch,
            self.model,
            self.weights,
            self.profile,
            self.enhance_button,
        )
        self.live = LivePreview(self.viewer, self, parent=self.native)
        self._connect()

    @property
    def preview_busy(self) -> bool:
        """A preview is due, waiting for a run, or running."""
        return self.live.busy

    @property
    def preview_layer(self):
        """The live preview's layer, or None."""
        return self.live.layer

    # -- building -------------------------------------------------------------------------------

    def _source_controls(self) -> list:
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
                "(SID uses x100, x250, x300). 'auto' estimates it from the raw's highlights."
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
        self.auto_reason = Label(name="auto_reason", label="Auto chose", value="")
        self.burst = ComboBox(
            name="burst",
            label="Burst",
            choices=BURST_MODES,
            value=BURST_ALL,
            tooltip=(
                "The raw layer is a stack of frames of one scene: Enhance aligns and merges them "
                "before the network, all of them or a window around the current frame (the "
                "slider's). The current frame is the reference: the result has its view. The "
                "live preview shows the current frame alone."
            ),
        )
        self.burst_window = SpinBox(
            name="burst_window",
            label="Frames",
            min=2,
            max=999,
            value=5,
            tooltip="How many frames around the current one to merge, the current one included.",
        )
        return [self.layer, self.burst, self.burst_window, self.ratio_preset, self.ratio, self.auto_reason]

    def _look_controls(self) -> list:
        self.strength = Slider(
            name="strength",
            label="Strength %",
            min=0,
            max=100,
            value=100,
            tooltip=(
                "Blend of the network's result with the amplified input (100 %: the network's "
                "result; 0 %: the input amplified by the ratio, its noise untouched)."
            ),
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
        self.model = ComboBox(
            name="model",
            label="Model",
            choices=list(SHIPPED_MODELS),
            value=DEFAULT_MODEL,
            tooltip="\n".join(f"{name}: {shipped.description}" for name, shipped in SHIPPED_MODELS.items()),
        )
        self.weights = FileEdit(
            name="weights",
            label="Other weights",
            mode="r",
            filter="*.safetensors",
            nullable=True,
            tooltip="Other U-Net weights (.safetensors), used instead of the model above; empty = that model.",
        )
        self.profile = FileEdit(
            name="profile",
            label="Camera profile",
            mode="r",
            nullable=True,
            tooltip="A camera profile made from dark frames (file or folder); empty = none.",
        )
        return [self.strength, self.stretch, self.model, self.weights, self.profile]

    def _preview_controls(self) -> list:
        self.preview = CheckBox(
            name="preview",
            text="Live preview (what the canvas shows)",
            value=False,
            tooltip=(
                "Enhance the part of the raw the canvas shows (up to 1 MP, at full resolution) "
                f"into a '{PREVIEW_NAME}' layer, again when you pan, zoom or change a setting."
            ),
        )
        self.compare = CheckBox(
            name="compare",
            text="Show before (amplified input)",
            value=False,
            tooltip=(
                "The preview shows the input amplified by the ratio (strength 0 %) instead of "
                "the result, at the same place and scale: tick and untick to compare."
            ),
        )
        return [self.preview, self.compare]

    def _run_controls(self) -> list:
        self.enhance_button = PushButton(name="enhance_button", text="Enhance")
        self.cancel_button = PushButton(
            name="cancel_button",
            text="Cancel",
            enabled=False,
            tooltip="Stop after the current tile (or frame of a burst).",
        )
        self.progress = ProgressBar(name="progress", label="Progress", min=0, max=1, value=0)
        self.status = Label(name="status", label="Status", value="")
        return [self.enhance_button, self.cancel_button, self.progress, self.status]

    def _connect(self) -> None:
        self.ratio_preset.changed.connect(self._on_preset)
        self.layer.changed.connect(self._show_burst_controls)
        self.burst.changed.connect(self._show_burst_controls)
        self.native.destroyed.connect(self.on_destroyed)
        controls = [  # not the burst's: the preview shows the current frame alone
            self.layer,
            self.ratio_preset,
            self.ratio,
            self.strength,
            self.stretch,
            self.model,
            self.weights,
        ]
        for control in [*controls, self.profile, self.preview, self.compare]:
            control.changed.connect(self.live.schedule)
        self.enhance_button.changed.connect(self._on_enhance_clicked)
        self.cancel_button.changed.connect(self._on_cancel_clicked)
        # layer insert/remove/reorder/rename call reset_choices: napari's add_dock_widget does it
        self._show_burst_controls()

    def _raw_layer_choices(self, _widget=None) -> list[tuple[str, object]]:
        return [(layer.name, layer) for layer in self.viewer.layers if is_raw_layer(layer)]

    # -- controls -------------------------------------------------------------------------------

    @qt_slot
    def _on_preset(self, preset: str) -> None:
        value = RATIO_PRESETS.get(preset)
        if value is not None:
            # switching to "custom" then starts from the last preset
            self.ratio.value = value
        self.ratio.enabled = preset == CUSTOM and self.worker is None
        if preset != "auto":
            self.auto_reason.value = ""

    @qt_slot
    def _show_burst_controls(self, *_) -> None:
        """The burst controls only for a stack layer, the window only for "around the current"."""
        stack = is_stack_layer(self.layer.value)
        self.burst.visible = stack
        self.burst_window.visible = stack and self.burst.value == BURST_AROUND

    @qt_slot
    def _on_enhance_clicked(self, *_) -> None:
        self.start()

    @qt_slot
    def _on_cancel_clicked(self, *_) -> None:
        self.cancel()

    def _set_running(self, running: bool) -> None:
        for control in self._controls:
            control.enabled = not running
        self.ratio.enabled = not running and self.ratio_preset.value == CUSTOM
        self.cancel_button.enabled = running

    def show_auto(self, metadata: dict) -> None:
        if metadata.get("ratio_mode") == "auto":
            self.auto_reason.value = f"×{float(metadata['ratio']):.0f}"
            self.auto_reason.tooltip = metadata.get("ratio_reason", "")

    # -- what the live preview asks (preview.PreviewHost) --------------------------------------

    def preview_wanted(self) -> bool:
        return bool(self.preview.value)

    def shows_before(self) -> bool:
        return bool(self.compare.value)

    def enhancing(self) -> bool:
        return self.worker is not None

    def preview_request(self, strength: float | None) -> EnhanceRequest:
        return self._request(strength=strength, burst=False)

    def source_layer(self):
        return self.layer.value

    def show_status(self, text: str) -> None:
        self.status.value = text

    # -- running --------------------------------------------------------------------------------

    def start(
        self, layer=None, ratio=None, stretch: bool | None = None, weights=None, strength: float | None = None
    ) -> GeneratorWorker | None:
        """Enhance, as the button does; arguments override the controls (for scripts).

        Returns the started worker, or None (with an error notification) if the request is
        not valid. `ratio` may be a number or "auto"; `strength` is 0 to 1. Given the same
        raw, ratio and weights as the last run, the network's result is reused (re-blended)."""
        if self.worker is not None:
            show_warning("napari-darkvision: an enhancement is already running; cancel it first.")
            return None
        try:
            request = self._request(layer, ratio, stretch, weights, strength)
        except DarkvisionError as err:
            show_error(f"napari-darkvision: {err}")
            return None
        key = request.network_key()
        cached = self._full_cache[1] if self._full_cache and self._full_cache[0] == key else None
        worker = enhance_worker(request, cached=cached)
        self._cancelling = False
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(partial(self._on_returned, request))
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.progress.max, self.progress.value = 1, 0
        self.status.value = "starting"
        self._activity = napari_progress(total=0, desc=f"darkvision: {request.source_name}")
        self._set_running(True)
        worker.start()
        return worker

    def _request(
        self, layer=None, ratio=None, stretch=None, weights=None, strength=None, burst: bool = True
    ) -> EnhanceRequest:
        """The request from the controls, overridden by the arguments; raises for bad input (the
        request's EnhanceSettings checks them).

        For a stack layer: its burst (the controls' frames) if `burst`, else its current frame."""
        layer = self.layer.value if layer is None else layer
        frames, used = (), ()
        if is_stack_layer(layer):
            current = current_frame(layer, self.viewer)
            used = (current,)
            if burst:
                window = self.burst_window.value if self.burst.value == BURST_AROUND else None
                used = burst_frames(len(layer.data), current, window)
                # the worker copies what it needs, off the GUI thread
                frames = tuple(raw_from_layer(layer, copy=False, frame=i) for i in used)
            raw = frames[0] if frames else raw_from_layer(layer, copy=False, frame=current)
        else:
            raw = raw_from_layer(layer, copy=False)
        return EnhanceRequest(
            raw=raw,
            source_name=layer.name,
            ratio=requested_ratio(self.ratio_preset.value, self.ratio.value) if ratio is None else ratio,
            stretch=bool(self.stretch.value) if stretch is None else stretch,
            strength=self.strength.value / 100 if strength is None else strength,
            weights=chosen_path(self.weights.value if weights is None else weights) or self.model.value,
            profile=chosen_path(self.profile.value),
            source_scale=tuple(layer.scale)[-2:],
            source_translate=tuple(layer.translate)[-2:],
            source=(*source_key(layer), used) if used else source_key(layer),
            extra_metadata=user_metadata(layer),
            frames=frames,
        )

    def cancel(self) -> None:
        """Stop the running enhancement after the current tile; adds no layer."""
        if self.worker is not None:
            self._cancelling = True
            self.status.value = "cancelling after this step"
            self.cancel_button.enabled = False
            self.worker.quit()

    def on_destroyed(self, *_) -> None:
        """The widget is gone (closed viewer or dock): stop what runs, touch no Qt widget again."""
        self.alive = False
        self.live.on_destroyed()
        if self.worker is not None:
            self.worker.quit()
        self._close_activity()

    def _close_activity(self) -> None:
        if self._activity is not None:
            self._activity.close()
            self._activity = None

    @qt_slot
    def _on_progress(self, step: Progress) -> None:
        if self._cancelling:
            return  # events queued before the worker saw the request
        if step.stage == "network":
            self.progress.max = max(1, step.total)
            self.progress.value = step.done
        elif step.stage in ("align", "merge"):  # two steps per frame, then the tiles
            self.progress.max = max(1, 2 * step.total)
            self.progress.value = 2 * step.done - (step.stage == "align")
        elif step.stage == "done":
            self.progress.value = self.progress.max
        text = STAGE_TEXT.get(step.stage, str(step.stage)).format(done=step.done, total=step.total)
        self.status.value = text
        activity = self._activity  # its events may run the finished handler, which closes it
        if activity is not None:
            if activity.total != self.progress.max:
                activity.total = self.progress.max
            activity.set_description(f"darkvision: {text}")
            activity.update(self.progress.value - activity.n)

    @qt_slot
    def _on_returned(self, request: EnhanceRequest, result: Enhanced | Failure) -> None:
        if isinstance(result, Failure):
            self.status.value = "failed"
            show_error(f"napari-darkvision: {result.message}")
            return
        self._full_cache = (request.network_key(), result)
        if request.ratio == "auto":
            self.show_auto(result.metadata)
        metadata = result_metadata(result, request.source_name, request.extra_metadata)
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

    @qt_slot
    def _on_aborted(self) -> None:
        self.status.value = "cancelled"
        show_info("napari-darkvision: enhancement cancelled.")

    @qt_slot
    def _on_finished(self) -> None:
        if self.status.value in ("cancelled", "failed"):
            self.progress.value = 0
        self.worker = None
        self._cancelling = False
        self._close_activity()
        self._set_running(False)
        if self.live.pending:
            self.live.schedule()

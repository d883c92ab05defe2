"""What the Enhance widget asks for and what it makes, apart from Qt: the ratio presets, turning a
layer (or a frame of a stack layer) back into a RawImage, the frames of a stack to merge, the
region of the raw the canvas shows, and naming and describing the result layer (the metadata
contract the napari writer relies on)."""

from __future__ import annotations

import itertools
import math
import os
import threading
import weakref
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import DarkvisionError, EnhanceError, RawReadError
from ..core.pipeline import Enhanced
from ..core.raw import RawImage
from ..core.settings import EnhanceSettings
from .reader import FRAMES_KEY

#: Exposure ratio presets: SID's Sony ratios, "auto" (estimated from the raw) and "custom".
RATIO_PRESETS: dict[str, float | None] = {"auto": None, "x100": 100.0, "x250": 250.0, "x300": 300.0}
CUSTOM = "custom"
PRESET_NAMES = (*RATIO_PRESETS, CUSTOM)
#: Most sensor pixels the live preview enhances (1 MP): fast enough to follow pan and zoom.
PREVIEW_PIXELS = 1024 * 1024
#: Fewest rows or columns of a preview region (LibRaw cannot render smaller ones).
PREVIEW_MIN_SIDE = 64
#: What a stack layer's burst merges: every frame, or a window of frames around the current one.
BURST_ALL = "all frames"
BURST_AROUND = "around the current"
BURST_MODES = (BURST_ALL, BURST_AROUND)


def is_raw_layer(layer) -> bool:
    """An image layer made by our reader (or carrying the same metadata)."""
    from napari.layers import Image

    metadata = getattr(layer, "metadata", None) or {}
    return isinstance(layer, Image) and bool(metadata.get("darkvision_raw"))


def is_stack_layer(layer) -> bool:
    """A raw layer holding a stack (N, H, W) of frames, each with its raw metadata (the reader's)."""
    frames = (getattr(layer, "metadata", None) or {}).get(FRAMES_KEY)
    shape = np.shape(getattr(layer, "data", None))
    return isinstance(frames, list) and len(shape) == 3 and len(frames) == shape[0]


def current_frame(layer, viewer) -> int:
    """The frame of a stack layer the viewer shows (where its dims slider stands), 0 to N - 1."""
    index = float(layer.world_to_data(viewer.dims.point)[0])
    return int(np.clip(round(index), 0, np.shape(layer.data)[0] - 1))


def burst_frames(count: int, current: int, window: int | None = None) -> tuple[int, ...]:
    """The frames of a stack of `count` to merge, the reference `current` first and the others in
    order: all of them, or `window` frames around `current` (moved to stay within the stack)."""
    if window is not None and window < 2:
        raise EnhanceError(f"A burst needs at least two frames, not {window}.")
    first, last = 0, count
    if window is not None and window < count:
        first = min(max(current - (window - 1) // 2, 0), count - window)
        last = first + window
    return (current, *(i for i in range(first, last) if i != current))


def requested_ratio(preset: str, custom: float) -> float | str:
    """The ratio asked for: "auto", a preset's value or the custom value (checked by the request's
    EnhanceSettings)."""
    if preset == CUSTOM:
        return custom
    if preset not in RATIO_PRESETS:
        raise EnhanceError(f"Unknown ratio preset {preset!r}: choose one of {', '.join(PRESET_NAMES)}.")
    value = RATIO_PRESETS[preset]
    return "auto" if value is None else value


def chosen_path(value) -> str | None:
    """A FileEdit's value as a path: None when it is empty (whether the file is there is the
    request's EnhanceSettings' check)."""
    if value is None or str(value).strip() in ("", "."):
        return None
    return os.fspath(value)


def raw_from_layer(layer, copy: bool = True, frame: int = 0) -> RawImage:
    """Rebuild the RawImage from a layer (of a stack layer, frame `frame`'s, with its own
    metadata); RawReadError, for a person, if it cannot be.

    With `copy` it holds its own copy of the pixels; without, the layer's array, for a thread
    worker to copy (:func:`~.worker.own_pixels`) so that the viewer does not wait for it."""
    if layer is None:
        raise RawReadError(
            "No raw layer to enhance: open a camera raw file with the napari-darkvision reader first."
        )
    data, metadata, name = np.asarray(layer.data), dict(layer.metadata), repr(layer.name)
    if is_stack_layer(layer):
        data, metadata, name = data[frame], dict(metadata[FRAMES_KEY][frame]), f"{name}, frame {frame}"
    try:
        raw = RawImage.from_metadata(data, metadata)  # validates shape, dtype, levels
    except DarkvisionError as err:
        raise RawReadError(f"Layer {name}: {err}") from err
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RawReadError(
            f"Layer {name} has damaged raw metadata ({type(err).__name__}: {err}): "
            "open the raw file again with the napari-darkvision reader."
        ) from err
    if copy:  # the user may edit or delete the layer while a run goes
        raw.mosaic = np.array(raw.mosaic, copy=True)
    return raw


#: Each layer's pixel array (weakly held) and its token: an id() is reused once an array is freed.
_pixel_tokens: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_next_token = itertools.count()
_tokens_lock = threading.Lock()


def pixels_token(layer) -> int:
    """A number for the array `layer` holds now, never given to another array."""
    data = layer.data
    with _tokens_lock:
        known = _pixel_tokens.get(layer)
        if known is not None and known[0]() is data:
            return known[1]
        token = next(_next_token)
        # data that cannot be weakly referenced gets a fresh token each time: never stale
        with suppress(TypeError):
            _pixel_tokens[layer] = (weakref.ref(data), token)
        return token


def source_key(layer) -> tuple:
    """Identifies a layer's pixels for the caches: the same array, shape and levels."""
    meta = layer.metadata
    token = pixels_token(layer)
    return (token, np.shape(layer.data), str(meta.get("black_level")), str(meta.get("white_level")))


def ratio_label(metadata: dict) -> str:
    """The ratio as shown: "×100", or "×221 auto" for an estimated one (rounded: an estimate)."""
    ratio = float(metadata["ratio"])
    if metadata.get("ratio_mode") == "auto":
        shown = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"
        return f"×{shown} auto"
    return f"×{ratio:g}"


def result_name(source_name: str, raw: RawImage, metadata: dict) -> str:
    stem = Path(raw.path).stem if raw.path else source_name
    strength = float(metadata.get("strength", 1.0))
    suffix = f" {strength:.0%}" if strength < 1.0 else ""
    suffix += " stretched" if metadata.get("stretch") else ""
    suffix += f", burst of {metadata['burst_frames']}" if metadata.get("burst_frames") else ""
    return f"{stem} [darkvision {ratio_label(metadata)}{suffix}]"


def result_metadata(result: Enhanced, source_name: str, extra: dict | None = None) -> dict:
    """The result layer's metadata: the run's (ratio, ratio_reason, stretch, strength, model...),
    the user's own keys of the raw layer, and what a writer needs to save it as a DNG:
    ``darkvision_result``, ``darkvision_source`` (the source's ``RawImage.metadata()``) and
    ``darkvision_mosaic`` (the enhanced uint16 mosaic)."""
    return {
        **(extra or {}),
        **result.metadata,
        "source_layer": source_name,
        "darkvision_result": True,
        "darkvision_source": result.raw.metadata() if result.raw is not None else {},
        "darkvision_mosaic": result.mosaic,
    }


def user_metadata(layer) -> dict:
    """The keys of a raw layer's metadata that are not the reader's (a user's notes)."""
    ours = set(RawImage.__dataclass_fields__) | {"darkvision_raw", FRAMES_KEY}
    return {k: v for k, v in dict(layer.metadata).items() if k not in ours}


@dataclass(frozen=True)
class EnhanceRequest:
    """One run of the widget, fixed when the user presses Enhance (or the preview refreshes).

    Its options are checked once, when it is made, as the :class:`EnhanceSettings` the core runs
    with (:attr:`settings`); the fields hold their checked values ("auto" for an estimated ratio)."""

    raw: RawImage
    source_name: str
    ratio: float | str
    stretch: bool
    weights: str | None
    source_scale: tuple = ()
    source_translate: tuple = ()
    strength: float = 1.0
    source: tuple = ()  # source_key() of the layer, and for a stack the frames used
    extra_metadata: dict | None = None
    profile: str | None = None
    #: a burst to merge (RawImages of a stack layer's frames), `raw` first; empty: `raw` alone
    frames: tuple = ()
    settings: EnhanceSettings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the result must line up pixel for pixel with the mosaic layer it comes from
        settings = EnhanceSettings(
            ratio=self.ratio,
            strength=self.strength,
            stretch=self.stretch,
            weights=self.weights,
            profile=self.profile,
            sensor_orientation=True,
        )
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "ratio", "auto" if settings.ratio is None else settings.ratio)
        object.__setattr__(self, "strength", settings.strength)
        object.__setattr__(self, "stretch", settings.stretch)

    def network_key(self, box: tuple | None = None) -> tuple:
        """What the network's result depends on (not the strength, the stretch or the render)."""
        return (self.source, self.ratio, self.weights, self.profile, box)


def preview_box(shape: tuple[int, int], pixels: int = PREVIEW_PIXELS) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the centre region; even offsets keep the CFA phase."""
    h, w = shape
    return visible_box(shape, (0.0, 0.0), (float(h), float(w)), pixels)


def visible_box(
    shape: tuple[int, int],
    start: tuple[float, float],
    stop: tuple[float, float],
    pixels: int = PREVIEW_PIXELS,
) -> tuple[int, int, int, int]:
    """The region of a (H, W) mosaic between data coordinates `start` and `stop` (the canvas's
    corners), as (top, bottom, left, right): cut to the image, shrunk about its centre to at most
    `pixels`, at least PREVIEW_MIN_SIDE a side, on even rows and columns (the 2x2 CFA phase)."""
    h, w = (int(n) - int(n) % 2 for n in shape)
    spans, centres = [], []
    for low, high, size in ((start[0], stop[0], h), (start[1], stop[1], w)):
        low, high = max(min(low, high), 0.0), min(max(low, high), float(size))
        spans.append(max(high - low, 0.0))
        centres.append((low + high) / 2 if high > low else min(max((low + high) / 2, 0.0), size))
    area = spans[0] * spans[1]
    shrink = math.sqrt(pixels / area) if area > pixels else 1.0
    box = []
    for span, centre, size in zip(spans, centres, (h, w), strict=True):
        side = min(size, max(PREVIEW_MIN_SIDE, int(span * shrink) // 2 * 2))
        first = int(round((centre - side / 2) / 2)) * 2
        first = min(max(first, 0), size - side)
        box += [first, first + side]
    return box[0], box[1], box[2], box[3]

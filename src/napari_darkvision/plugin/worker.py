"""The enhancement run in a thread: a generator worker around ``core.pipeline.enhance_steps``,
and the live preview's function worker.

The full run yields the core's :class:`~napari_darkvision.core.pipeline.Progress` events (for a
burst, one per frame aligned and merged; one per tile while the network runs) and returns the
:class:`~napari_darkvision.core.pipeline.Enhanced` result, or a :class:`Failure` that explains
in words what went wrong. ``worker.quit()`` cancels: the worker stops at its next yield, so
between two frames or two tiles. A request with ``frames`` (a stack layer's) merges them,
``raw`` the reference, before the network; the live preview enhances ``raw`` alone. Given the network's earlier result for the same raw, ratio and weights, both
only re-blend the strength and render: the network does not run again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, replace

import numpy as np
from napari.qt.threading import thread_worker

from ..core.errors import DarkvisionError
from ..core.exposure import estimate_ratio
from ..core.pipeline import (
    Enhanced,
    Progress,
    Stage,
    enhance_steps,
    reblend,
    run_to_end,
)
from .state import EnhanceRequest, preview_box

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """Returned instead of raising, so that a failed run becomes a notification, not a traceback."""

    message: str


@dataclass
class Preview:
    """A rendered preview of one region (top, bottom, left, right) of the raw."""

    result: Enhanced
    box: tuple[int, int, int, int]
    key: tuple


def failure(request: EnhanceRequest, err: BaseException) -> Failure:
    """The words for a run that failed: ours as they are, anything else named (and logged)."""
    if isinstance(err, DarkvisionError):
        return Failure(str(err))
    if isinstance(err, MemoryError):
        shape = request.raw.shape
        return Failure(
            f"Not enough memory to enhance {request.source_name!r} ({shape[0]}x{shape[1]} pixels)."
        )
    logger.error("enhancing %s failed", request.source_name, exc_info=err)
    return Failure(f"Enhancing {request.source_name!r} failed: {type(err).__name__}: {err}")


#: "auto" of the last few sources (EnhanceRequest.source): 0.1 s a 12 MP frame, not redone per pan.
_auto_ratios: dict[tuple, tuple[float, str]] = {}
#: Preview workers of several widgets (viewers) may run at once.
_auto_ratios_lock = threading.Lock()


def preview_ratio(request: EnhanceRequest) -> tuple[float, str]:
    """The preview's ratio and its reason: "auto" estimated on the whole raw (once per source)."""
    if request.ratio != "auto":
        return float(request.ratio), "set by hand"
    with _auto_ratios_lock:
        known = _auto_ratios.get(request.source) if request.source else None
    if known is not None:
        return known
    estimate = estimate_ratio(request.raw)
    if request.source:
        with _auto_ratios_lock:
            if len(_auto_ratios) >= 4:
                _auto_ratios.pop(next(iter(_auto_ratios)))
            _auto_ratios[request.source] = estimate
    return estimate


def own_pixels(raw, box: tuple | None = None):
    """`raw` on a copy of its pixels (of `box` only, where given): the user may edit or delete the
    layer while a run goes; the copy is made here, in the worker, not on the viewer's thread."""
    mosaic = raw.mosaic if box is None else raw.mosaic[box[0] : box[1], box[2] : box[3]]
    return dataclasses.replace(raw, mosaic=np.array(mosaic, copy=True))


def own_frames(request: EnhanceRequest) -> EnhanceRequest:
    """`request` on copies of its pixels: the raw's, and every frame's of a burst."""
    if not request.frames:
        return replace(request, raw=own_pixels(request.raw))
    frames = tuple(own_pixels(frame) for frame in request.frames)
    return replace(request, raw=frames[0], frames=frames)


def _steps(request: EnhanceRequest, device: str | None):
    settings = request.settings if device is None else request.settings.replace(device=device)
    return enhance_steps(list(request.frames) if request.frames else request.raw, settings)


def run_enhance(request: EnhanceRequest, device: str | None = None, cached: Enhanced | None = None):
    """The generator the worker drives; also usable without Qt (``core.pipeline.run_to_end``).

    `cached`: the network's result for the same request (but strength and stretch), reused."""
    try:
        if cached is not None and cached.network_mosaic is not None:
            yield Progress(Stage.RENDER, 0, 1)
            result = reblend(cached, request.strength, request.stretch)
            yield Progress(Stage.DONE, 1, 1)
            return result
        return (yield from _steps(own_frames(request), device))
    except Exception as err:  # noqa: BLE001 - bad weights, torch or LibRaw errors: tell, do not crash
        return failure(request, err)


def run_preview(
    request: EnhanceRequest,
    device: str | None = None,
    box: tuple | None = None,
    cached: Preview | None = None,
) -> Preview | Failure:
    """Enhance one region (default: the centre 1 MP) at full resolution, for the live preview.

    "auto" is estimated on the whole raw, as the full run does, so the preview shows the
    exposure the Enhance button will give; the stretch, though, sees only the region. With
    `cached` (an earlier preview of the same region, ratio and weights) the network is skipped."""
    box = tuple(box or preview_box(request.raw.shape))
    key = request.network_key(box)
    try:
        if cached is not None and cached.key == key:
            return Preview(reblend(cached.result, request.strength, request.stretch), box, key)
        ratio, reason = preview_ratio(request)
        # no path: LibRaw renders the region from a temporary DNG, never from the source file
        crop = dataclasses.replace(own_pixels(request.raw, box), path="")
        result = run_to_end(_steps(replace(request, raw=crop, ratio=ratio, frames=()), device))
    except Exception as err:  # noqa: BLE001 - a preview must never raise into napari
        return failure(request, err)
    if request.ratio == "auto":
        result.metadata.update(ratio_mode="auto", ratio_reason=reason)
    return Preview(result, box, key)


#: ``enhance_worker(request, cached=None)`` -> a GeneratorWorker, not yet started.
enhance_worker = thread_worker(run_enhance, start_thread=False)
#: ``preview_worker(request, box=..., cached=...)`` -> a FunctionWorker, not yet started.
preview_worker = thread_worker(run_preview, start_thread=False)

"""The enhancement run in a thread: a generator worker around ``core.pipeline.enhance_steps``.

It yields the core's :class:`~napari_darkvision.core.pipeline.Progress` events (one per tile
while the network runs), and returns the :class:`~napari_darkvision.core.pipeline.Enhanced`
result, or a :class:`Failure` that explains in words what went wrong. ``worker.quit()`` cancels:
the worker stops at its next yield, so between two tiles.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, replace

from napari.qt.threading import thread_worker

from ._state import EnhanceRequest, preview_box
from .core.pipeline import Enhanced, EnhanceError, auto_ratio, enhance_steps, run_to_end
from .core.raw import RawReadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """Returned instead of raising, so that a failed run becomes a notification, not a traceback."""

    message: str


def run_enhance(request: EnhanceRequest, device: str | None = None):
    """The generator the worker drives; also usable without Qt (``core.pipeline.run_to_end``)."""
    try:
        result: Enhanced = yield from enhance_steps(
            request.raw,
            ratio=request.ratio,
            stretch=request.stretch,
            weights=request.weights,
            device=device,
            # the result must line up pixel for pixel with the mosaic layer it comes from
            sensor_orientation=True,
        )
    except (EnhanceError, RawReadError) as err:
        return Failure(str(err))
    except MemoryError:
        return Failure(
            f"Not enough memory to enhance {request.source_name!r} "
            f"({request.raw.shape[0]}x{request.raw.shape[1]} pixels)."
        )
    except Exception as err:  # noqa: BLE001 - bad weights, torch or LibRaw errors: tell, do not crash
        logger.exception("enhancing %s failed", request.source_name)
        return Failure(f"Enhancing {request.source_name!r} failed: {type(err).__name__}: {err}")
    return result


def run_preview(request: EnhanceRequest, device: str | None = None) -> tuple[Enhanced | Failure, tuple]:
    """Enhance the centre region only, for the live preview: (result, (top, bottom, left, right)).

    "auto" is estimated on the whole raw, as the full run does, so the preview shows the
    exposure the Enhance button will give; the stretch, though, sees only the region."""
    box = preview_box(request.raw.shape)
    top, bottom, left, right = box
    try:
        ratio = auto_ratio(request.raw) if request.ratio == "auto" else request.ratio
        # no path: LibRaw renders the region from a temporary DNG, never from the source file
        crop = dataclasses.replace(request.raw, mosaic=request.raw.mosaic[top:bottom, left:right], path="")
        steps = run_enhance(replace(request, raw=crop, ratio=ratio), device)
        result = run_to_end(steps)
    except Exception as err:  # noqa: BLE001 - a preview must never raise into napari
        logger.exception("preview of %s failed", request.source_name)
        result = Failure(f"preview failed: {type(err).__name__}: {err}")
    if isinstance(result, Enhanced):
        result.metadata["ratio_mode"] = "auto" if request.ratio == "auto" else "manual"
    return result, box


#: ``enhance_worker(request)`` -> a GeneratorWorker, not yet started.
enhance_worker = thread_worker(run_enhance, start_thread=False)
#: ``preview_worker(request)`` -> a FunctionWorker, not yet started.
preview_worker = thread_worker(run_preview, start_thread=False)

"""enhance(): raw file or RawImage -> a clean, bright sRGB image.

:func:`enhance_steps` is a generator of :class:`Progress` events that returns an
:class:`Enhanced` result, for callers that show progress and may cancel (the napari widget, the
CLI); :func:`enhance` runs it to the end for scripts.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

#: OpenMP threads (torch's, LibRaw's) sleep instead of spinning when they wait for each other:
#: spinning threads on busy cores wait for each other's time slices (model card, "Threads on a
#: busy computer"). Set before torch is imported; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from .errors import EnhanceError as EnhanceError  # exported from here since release 1
from .exposure import AUTO_TARGET as AUTO_TARGET  # the names release 5 exported from here
from .exposure import auto_ratio as auto_ratio
from .exposure import estimate_ratio
from .exposure import scene_level as scene_level
from .parameters import MAX_RATIO as MAX_RATIO  # the names release 5 exported from here
from .parameters import MIN_RATIO as MIN_RATIO
from .parameters import validate_ratio as validate_ratio
from .progress import Progress, Stage, run_to_end
from .raw import RawImage, pack, read_raw, unpack, validate_raw
from .render import render
from .render import stretch as stretch_image
from .settings import EnhanceSettings, settings_from


@dataclass
class Enhanced:
    image: np.ndarray  # (H, W, 3) uint16 sRGB
    metadata: dict = field(default_factory=dict)
    #: the enhanced Bayer mosaic (uint16, shaped and levelled like ``raw.mosaic``), before rendering
    mosaic: np.ndarray | None = None
    #: the source as read (levels, CFA, white balance, matrix, orientation, EXIF)
    raw: RawImage | None = None
    #: the network's mosaic before the strength blend (``mosaic`` itself at strength 1): re-blend
    #: it with :func:`blend_strength` to change the strength without running the network again
    network_mosaic: np.ndarray | None = None


def blend_strength(network_mosaic: np.ndarray, raw: RawImage, ratio: float, strength: float) -> np.ndarray:
    """``strength`` x the network's mosaic + (1 - strength) x the input amplified by `ratio`.

    Blended in the linear mosaic, before rendering: the DNG and the rendered image then hold
    the same blend, and 0 gives exactly the plainly amplified input (as darktable's denoise
    strength does); rendering is non-linear (demosaic, gamma), so a blend after it would not.
    """
    if strength >= 1.0:
        return network_mosaic
    amplified = unpack(pack(raw, ratio=ratio), raw).astype(np.float32)
    blended = amplified * (1.0 - strength)
    blended += network_mosaic.astype(np.float32) * strength
    return np.rint(blended, out=blended).astype(np.uint16)


def cached_model(weights: str | None = None, device: str | None = None):
    """The loaded model (`weights`: a shipped model's name, a file, None for the default), reused
    while its file is unchanged (path, size and modification time)."""
    from .bundled import weights_file

    path = os.path.abspath(weights_file(weights))
    try:
        stat = os.stat(path)
        identity = (path, stat.st_size, stat.st_mtime_ns, stat.st_ino)
    except OSError:
        identity = (path, None, None, None)
    return _load_model(identity, device)


@lru_cache(maxsize=4)
def _load_model(identity: tuple, device: str | None):
    from .model import load_model

    return load_model(identity[0], device)


def enhance_steps(
    source: RawImage | str | os.PathLike | Sequence[RawImage | str | os.PathLike],
    settings: EnhanceSettings | None = None,
    **options,
) -> Generator[Progress, None, Enhanced]:
    """Enhance step by step: a generator of :class:`Progress` events that returns the result.

    Parameters
    ----------
    source
        A raw file's path, or a :class:`RawImage` (validated here, however it was made); or a
        burst: a list (or tuple) of them, frames of one scene from one camera, frame 0 the
        reference. A burst's frames are aligned and merged (:mod:`~.burst`) before the network,
        which is told the merged noise at each pixel; the result has frame 0's view and
        metadata, and ``raw`` is frame 0 with the merged mosaic.
    settings
        Every option of the enhancement, checked once when it was made
        (:class:`~.settings.EnhanceSettings`: ratio, strength, stretch, weights, device, profile,
        hot pixels, precision, tiling, orientation).
    **options
        The same options as keywords, for scripts (``ratio=100, strength=0.5``): an
        EnhanceSettings is made of them (or of `settings` with them changed).

    Returns
    -------
    Enhanced
        The (H, W, 3) uint16 sRGB image, its metadata, the enhanced mosaic and the source.

    Yields
    ------
    Progress
        Reading, for a burst each frame aligned and merged (``Stage.ALIGN``, ``Stage.MERGE``:
        closing the generator stops between frames), the network's tiles, rendering.

    Raises
    ------
    DarkvisionError
        RawReadError (BurstError for frames that are not one burst), EnhanceError, ModelError or
        DeviceError, worded for a person; all parameters are checked before the raw is read or
        torch imported, and a burst's frames (their headers) before any is merged.
    """
    settings = settings_from(settings, **options)
    profile = settings.profile
    started = time.perf_counter()
    burst = None
    if is_burst(source):
        burst, profile_noise, profile_meta = yield from _merged_burst(source, profile)
        raw = burst.raw
    else:
        raw, profile_noise, profile_meta = _read_source(source, profile)
    yield Progress(Stage.READ, 1, 1)

    import torch

    from .tiling import resolve_precision

    chosen, ratio_mode, reason = settings.ratio, "manual", "set by hand"
    if chosen is None:
        ratio_mode = "auto"
        chosen, reason = estimate_ratio(raw)
    model = cached_model(settings.weights, settings.device)
    precision = resolve_precision(settings.precision, next(model.parameters()).device)
    network_mosaic, hot_count = yield from _network_mosaic(
        model,
        raw,
        chosen,
        profile_noise,
        settings.hot_pixels,
        None if burst is None else burst.variance_scale,
        tile=settings.tile,
        overlap=settings.overlap,
        precision=precision,
    )
    mosaic = blend_strength(network_mosaic, raw, chosen, settings.strength)
    mosaic.flags.writeable = False  # shared by the result and the render: neither may change it
    yield Progress(Stage.RENDER, 0, 1)
    image = render(raw, mosaic, sensor_orientation=settings.sensor_orientation)
    if settings.stretch:
        image = stretch_image(image)
    yield Progress(Stage.DONE, 1, 1)
    metadata = {
        "source": raw.path,
        "ratio": chosen,
        "ratio_mode": ratio_mode,
        "ratio_reason": reason,
        "stretch": settings.stretch,
        "strength": settings.strength,
        **_model_metadata(model, precision),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - started, 3),
        "camera": f"{raw.make} {raw.model}".strip(),
        "sensor_orientation": settings.sensor_orientation,
        "hot_pixels_replaced": hot_count,
        **profile_meta,
        **({} if burst is None else burst.metadata()),
    }
    return Enhanced(image, metadata, mosaic=mosaic, raw=raw, network_mosaic=network_mosaic)


def _read_source(source, profile) -> tuple[RawImage, tuple | None, dict]:
    """The validated raw (corrected by the camera profile, if any), the profile's noise and its
    metadata."""
    if profile is None:
        return (validate_raw(source) if isinstance(source, RawImage) else read_raw(source)), None, {}
    from .calibration import prepare

    raw = validate_raw(source) if isinstance(source, RawImage) else read_raw(source)
    return prepare(raw, profile)


def is_burst(source) -> bool:
    """Whether `source` is a burst (a list or tuple of frames) rather than one raw."""
    return isinstance(source, list | tuple)


def _merged_burst(frames, profile):
    """A burst merged (a generator of its progress): the MergedBurst, one frame's noise at ratio
    1 (the profile's where one is given) and the profile's metadata (frame 0's)."""
    from .burst import check_burst, merge_steps

    frames = check_burst(frames)
    if profile is None:
        merged = yield from merge_steps(frames)
        return merged, merged.noise, {}
    from .calibration import prepare

    corrected = []  # frame 0's noise and metadata (every frame is corrected alike)

    def correct(raw: RawImage) -> RawImage:
        shot, noise, meta = prepare(raw, profile)
        if not corrected:
            corrected.append((noise, meta))
        return shot

    merged = yield from merge_steps(frames, correct)
    return merged, *corrected[0]


def _network_input(raw: RawImage, ratio: float, profile_noise, hot_pixels: bool, variance_scale=None):
    """The packed, amplified input (hot pixels replaced if asked), its noise (a, b) for the
    network (None: the tiling measures it; with a burst's per-pixel `variance_scale` third) and
    how many hot pixels were replaced."""
    packed = pack(raw, ratio=ratio)
    noise = None
    if profile_noise is not None:
        from .calibration import network_noise

        noise = network_noise(profile_noise, ratio, packed)
    if hot_pixels or variance_scale is not None:
        from .tiling import image_noise

        if noise is None:  # the whole image's, as the network would measure it
            noise = image_noise(packed)
    count = 0
    if hot_pixels:
        from .hot_pixels import replace_hot_pixels

        packed, count = replace_hot_pixels(packed, noise)
    if variance_scale is not None:
        noise = (*noise, variance_scale)
    return packed, noise, count


def _network_mosaic(
    model, raw: RawImage, ratio: float, profile_noise, hot_pixels: bool, variance_scale=None, **tiling
):
    """The network's mosaic (read-only) of `raw` amplified by `ratio`, and how many hot pixels
    were replaced before it ran: a generator of the tiles' progress, as :func:`~.tiling.run_tiled`."""
    from .tiling import run_tiled

    packed, noise, hot_count = _network_input(raw, ratio, profile_noise, hot_pixels, variance_scale)
    device = next(model.parameters()).device
    clean = yield from run_tiled(model, packed, device=device, noise=noise, **tiling)
    del packed
    mosaic = unpack(clean, raw)
    del clean
    mosaic.flags.writeable = False
    return mosaic, hot_count


def _model_metadata(model, precision: str) -> dict:
    config = model.config
    return {
        "model": config.name,
        "model_version": getattr(model, "weights_meta", {}).get("release", config.version),
        "weights": getattr(model, "weights_path", ""),
        "device": str(next(model.parameters()).device),
        "precision": precision,
    }


def enhance(
    source: RawImage | str | os.PathLike | Sequence[RawImage | str | os.PathLike],
    settings: EnhanceSettings | float | str | None = None,
    **options,
) -> np.ndarray:
    """Enhance a dark raw (or a burst of them) and return the (H, W, 3) uint16 sRGB image.

    Parameters
    ----------
    source
        A raw file's path, or a :class:`RawImage`; or a burst, a list of them (frame 0 the
        reference, see :func:`enhance_steps`).
    settings
        An :class:`~.settings.EnhanceSettings`, or (as before there was one) the ratio: a number
        or "auto".
    **options
        Those of :class:`~.settings.EnhanceSettings` as keywords: ``ratio``, ``strength``,
        ``stretch``, ``weights``, ``device``, ``profile``, ``hot_pixels``, ``precision``,
        ``tile``, ``overlap``, ``sensor_orientation``.
    """
    if settings is not None and not isinstance(settings, EnhanceSettings):
        settings, options = None, {"ratio": settings, **options}
    return run_to_end(enhance_steps(source, settings, **options)).image


def reblend(result: Enhanced, strength: float, stretch: bool | None = None) -> Enhanced:
    """`result` at another strength (and stretch): the network's mosaic blended again with the
    amplified input and rendered; the network does not run again."""
    from .parameters import check_flag, check_strength

    strength = check_strength(strength)
    stretch = bool(result.metadata.get("stretch")) if stretch is None else check_flag(stretch, "stretch")
    started = time.perf_counter()
    raw, ratio = result.raw, float(result.metadata["ratio"])
    mosaic = blend_strength(result.network_mosaic, raw, ratio, strength)
    mosaic.flags.writeable = False
    image = render(raw, mosaic, sensor_orientation=bool(result.metadata.get("sensor_orientation")))
    if stretch:
        image = stretch_image(image)
    seconds = round(time.perf_counter() - started, 3)
    metadata = {**result.metadata, "strength": strength, "stretch": stretch, "seconds": seconds}
    return dataclasses.replace(result, image=image, metadata=metadata, mosaic=mosaic)

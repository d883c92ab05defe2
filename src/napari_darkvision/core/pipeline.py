"""enhance(): raw file or RawImage -> a clean, bright sRGB image.

:func:`enhance_steps` is a generator of :class:`Progress` events that returns an
:class:`Enhanced` result, for callers that show progress and may cancel (the napari widget, the
CLI); :func:`enhance` runs it to the end for scripts.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from functools import lru_cache

#: OpenMP threads (torch's, LibRaw's) sleep instead of spinning when they wait for each other:
#: spinning threads on busy cores wait for each other's time slices (model card, "Threads on a
#: busy computer"). Set before torch is imported; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from .errors import EnhanceError
from .parameters import number
from .progress import Progress, Stage, run_to_end
from .raw import RawImage, pack, read_raw, unpack, validate_raw
from .render import render
from .render import stretch as stretch_image
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE

#: Accepted exposure ratios; SID uses 100-300. Larger ratios only amplify noise.
MIN_RATIO, MAX_RATIO = 1.0, 3000.0
#: "auto" picks the ratio that brings the mean of the amplified raw to this level, about the
#: brightness of the well-exposed long exposures the model learned to produce.
AUTO_TARGET_MEAN = 0.1


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


def validate_ratio(ratio) -> float | None:
    """A float ratio, or None for "auto"; EnhanceError for anything else."""
    if ratio is None or (isinstance(ratio, str) and ratio.strip().lower() == "auto"):
        return None
    value = number(ratio, "Ratio must be a number or 'auto'")
    if not math.isfinite(value) or not MIN_RATIO <= value <= MAX_RATIO:
        raise EnhanceError(
            f"Ratio must be between {MIN_RATIO:g} and {MAX_RATIO:g} (SID uses 100, 250, 300), "
            f"or 'auto'; got {ratio!r}."
        )
    return value


#: "auto" brings :func:`scene_level` to this: the median over the training photos (the
#: validation photos and raws score it: docs/training/experiments/auto_ratio.py).
AUTO_TARGET = 0.20
#: :func:`scene_level` averages blocks of this many packed pixels a side: the noise of a
#: x300 shot then moves the percentile by a few per cent, not by a factor.
AUTO_BIN = 8


def scene_level(packed: np.ndarray, camera_wb) -> float:
    """The brightness "auto" exposes for, of a packed (4, h, w) image normalised to [0, 1]: the
    95th percentile of the white-balanced luminance, block-averaged. Of the statistics tried
    (mean, median, log-mean, other percentiles) it lands nearest the true ratio; a high
    percentile, not the mean, since photographers expose for the highlights."""
    _, h, w = packed.shape
    side = max(1, min(AUTO_BIN, h // 4, w // 4))
    h, w = h // side * side, w // side * side
    wb = np.asarray(camera_wb, dtype=np.float32) / 4
    luma = wb[0] * packed[0, :h, :w] + wb[1] * packed[1, :h, :w] + wb[2] * packed[2, :h, :w]
    luma += wb[3] * packed[3, :h, :w]
    blocks = luma.reshape(h // side, side, w // side, side).mean(axis=(1, 3))
    return float(np.percentile(blocks, 95))


def estimate_ratio(raw: RawImage) -> tuple[float, str]:
    """The "auto" ratio and, in words, why: from the image's brightness (its exposure settings
    shown, when the file records them)."""
    packed = pack(raw, clip=False)
    level = scene_level(packed, raw.camera_wb)
    if not level > 0:
        return MAX_RATIO, "the image is black: the largest ratio"
    ratio = float(np.clip(AUTO_TARGET / level, MIN_RATIO, MAX_RATIO))
    reason = f"highlights (95th percentile) at {level:.2g} of white, brought to {AUTO_TARGET:g}"
    if raw.exposure_time > 0:
        # the exposure settings do not change the estimate (they cancel), but tell what it means
        iso = f" at ISO {raw.iso:g}" if raw.iso > 0 else ""
        reason += f": {_seconds(raw.exposure_time)}{iso} shot as if {_seconds(raw.exposure_time * ratio)}"
    return ratio, reason


def _seconds(value: float) -> str:
    return f"1/{1 / value:.0f} s" if value < 0.5 else f"{value:.2g} s"


def auto_ratio(raw: RawImage) -> float:
    """Estimate the amplification that brings the image to a normal exposure."""
    return estimate_ratio(raw)[0]


def cached_model(weights: str | None = None, device: str | None = None):
    """The loaded model, reused while its file is unchanged (path, size and modification time)."""
    from .model import default_weights_path

    path = os.path.abspath(os.fspath(weights) if weights else default_weights_path())
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
    source: RawImage | str | os.PathLike,
    ratio: float | str | None = "auto",
    stretch: bool = False,
    weights: str | None = None,
    device: str | None = None,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    sensor_orientation: bool = False,
    precision: str = "auto",
    strength: float = 1.0,
    profile=None,
    hot_pixels: bool = True,
) -> Generator[Progress, None, Enhanced]:
    """Enhance step by step: a generator of :class:`Progress` events that returns the result.

    Parameters
    ----------
    source
        A raw file's path, or a :class:`RawImage` (validated here, however it was made).
    ratio
        Exposure amplification (1 to 3000; SID uses 100, 250, 300), or "auto"/None to estimate it.
    stretch
        Histogram-stretch the rendered result (after the network, never inside it).
    weights
        Other model weights (.safetensors); None for the shipped model.
    device
        "cpu", "cuda", "cuda:N", "mps", or None/"auto" for the fastest present.
    tile, overlap
        Tile side and minimum overlap in packed pixels (memory is bounded by the tile).
    sensor_orientation
        Keep the sensor's rows and columns (to line up with the mosaic) instead of turning the
        image as the camera's orientation flag says.
    precision
        "auto" (bfloat16 on CPUs with native bfloat16, else float32), "float32" or "bfloat16".
    strength
        0 to 1: the blend of the network's result with the input amplified by `ratio` (1, the
        default, is the network's result; 0 the amplified input), in the mosaic before rendering.
    profile
        A camera profile (:class:`~napari_darkvision.core.calibration.CameraProfile`, a profile
        file or a folder of them, see docs/calibration.md): its dark pattern is subtracted and its
        hot pixels replaced right after reading, and its read noise is given to the network.
        The result's ``raw`` is then the corrected shot; its metadata names the profile.
    hot_pixels
        Replace hot and stuck pixels found blind (:mod:`~napari_darkvision.core.hot_pixels`)
        before the network, so that none becomes a coloured blob; their count is in the metadata.

    Returns
    -------
    Enhanced
        The (H, W, 3) uint16 sRGB image, its metadata, the enhanced mosaic and the source.

    Raises
    ------
    DarkvisionError
        RawReadError, EnhanceError, ModelError or DeviceError, worded for a person; all
        parameters are checked before the raw is read or torch imported.
    """
    from .parameters import check_device, check_flag, check_strength

    chosen = validate_ratio(ratio)
    stretch = check_flag(stretch, "stretch")
    hot_pixels = check_flag(hot_pixels, "hot_pixels")
    strength = check_strength(strength)
    device = check_device(device)
    started = time.perf_counter()
    raw, profile_noise, profile_meta = _read_source(source, profile)
    yield Progress(Stage.READ, 1, 1)

    import torch

    from .tiling import resolve_precision

    ratio_mode, reason = ("auto", "") if chosen is None else ("manual", "set by hand")
    if chosen is None:
        chosen, reason = estimate_ratio(raw)
    model = cached_model(os.fspath(weights) if weights else None, device)
    precision = resolve_precision(precision, next(model.parameters()).device)
    network_mosaic, hot_count = yield from _network_mosaic(
        model, raw, chosen, profile_noise, hot_pixels, tile=tile, overlap=overlap, precision=precision
    )
    mosaic = blend_strength(network_mosaic, raw, chosen, strength)
    mosaic.flags.writeable = False  # shared by the result and the render: neither may change it
    yield Progress(Stage.RENDER, 0, 1)
    image = render(raw, mosaic, sensor_orientation=sensor_orientation)
    if stretch:
        image = stretch_image(image)
    yield Progress(Stage.DONE, 1, 1)
    metadata = {
        "source": raw.path,
        "ratio": chosen,
        "ratio_mode": ratio_mode,
        "ratio_reason": reason,
        "stretch": bool(stretch),
        "strength": strength,
        **_model_metadata(model, precision),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - started, 3),
        "camera": f"{raw.make} {raw.model}".strip(),
        "sensor_orientation": sensor_orientation,
        "hot_pixels_replaced": hot_count,
        **profile_meta,
    }
    return Enhanced(image, metadata, mosaic=mosaic, raw=raw, network_mosaic=network_mosaic)


def _read_source(source, profile) -> tuple[RawImage, tuple | None, dict]:
    """The validated raw (corrected by the camera profile, if any), the profile's noise and its
    metadata; the profile's path is checked before the raw is read."""
    if profile is None:
        return (validate_raw(source) if isinstance(source, RawImage) else read_raw(source)), None, {}
    from .calibration import check_profile_source, prepare

    check_profile_source(profile)
    raw = validate_raw(source) if isinstance(source, RawImage) else read_raw(source)
    return prepare(raw, profile)


def _network_input(raw: RawImage, ratio: float, profile_noise, hot_pixels: bool):
    """The packed, amplified input (hot pixels replaced if asked), its noise (a, b) for the
    network (None: the tiling measures it) and how many hot pixels were replaced."""
    packed = pack(raw, ratio=ratio)
    noise = None
    if profile_noise is not None:
        from .calibration import network_noise

        noise = network_noise(profile_noise, ratio, packed)
    if not hot_pixels:
        return packed, noise, 0
    from .hot_pixels import replace_hot_pixels
    from .tiling import image_noise

    if noise is None:  # the whole image's, as the network would measure it
        noise = image_noise(packed)
    packed, count = replace_hot_pixels(packed, noise)
    return packed, noise, count


def _network_mosaic(model, raw: RawImage, ratio: float, profile_noise, hot_pixels: bool, **tiling):
    """The network's mosaic (read-only) of `raw` amplified by `ratio`, and how many hot pixels
    were replaced before it ran: a generator of the tiles' progress, as :func:`~.tiling.run_tiled`."""
    from .tiling import run_tiled

    packed, noise, hot_count = _network_input(raw, ratio, profile_noise, hot_pixels)
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
    source: RawImage | str | os.PathLike, ratio: float | str | None = "auto", **options
) -> np.ndarray:
    """Enhance a dark raw and return the (H, W, 3) uint16 sRGB image.

    Parameters
    ----------
    source
        A raw file's path, or a :class:`RawImage`.
    ratio
        Exposure amplification, or "auto".
    **options
        Those of :func:`enhance_steps`: ``stretch``, ``weights``, ``device``, ``strength``,
        ``profile``, ``hot_pixels``, ``precision``, ``tile``, ``overlap``, ``sensor_orientation``.
    """
    return run_to_end(enhance_steps(source, ratio, **options)).image

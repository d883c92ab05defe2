"""Synthetic handheld bursts from a clean raw, for tests and evaluations: every frame moved by a
hand's shake (sub-pixel shifts and a slight rotation), an object walking through the scene and
independent sensor noise (:func:`~.synth.short_exposure`) in each frame."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..core.burst import mosaic_from_merged
from ..core.raw import RawImage, channel_positions, pack
from .synth import NoiseParams, short_exposure


@dataclass
class SyntheticBurst:
    frames: list[RawImage]  # noisy, dark (the clean scene / ratio), frame 0 the reference
    truth: RawImage  # frame 0 without noise, at the clean exposure
    path: np.ndarray  # (h, w) bool per packed pixel: where the object passes, in frame 0's view
    shifts: list[tuple[float, float, float]]  # per frame: dy, dx (sensor pixels), rotation (degrees)
    boxes: list[tuple[int, int, int]]  # per frame: the object's top, left and side (packed pixels)


def _moved(packed: np.ndarray, dy: float, dx: float, degrees: float) -> np.ndarray:
    """The scene `packed` (4, h, w) seen by a camera turned by `degrees` about the centre and moved
    by (dy, dx) sensor pixels: each channel sampled where its own photosites fall (cubic spline)."""
    from scipy.ndimage import map_coordinates

    _, h, w = packed.shape
    theta = np.radians(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    rows, cols = np.mgrid[0 : 2 * h : 2, 0 : 2 * w : 2].astype(np.float64)
    out = np.empty_like(packed)
    for channel, (r, c) in enumerate(channel_positions("RGGB")):
        y, x = rows + r - h, cols + c - w  # sensor coordinates about the centre
        sy = cos * y - sin * x + h + dy
        sx = sin * y + cos * x + w + dx
        coords = np.stack([(sy - r) / 2, (sx - c) / 2])
        out[channel] = map_coordinates(packed[channel], coords, order=3, mode="reflect")
    return out


def synthetic_burst(
    clean: RawImage,
    count: int,
    ratio: float,
    noise: NoiseParams,
    rng: np.random.Generator,
    shake: float = 16.0,
    max_rotation: float = 0.3,
    object_side: float = 0.2,
) -> SyntheticBurst:
    """`count` dark frames of the scene `clean` (a well-exposed raw): frame k moved by up to
    `shake` sensor pixels and turned by up to `max_rotation` degrees (frame 0 not), with a square
    object (`object_side` of the height; a piece of the scene turned upside down) crossing
    from left to right, and each frame's own noise for exposure 1/`ratio`."""
    scene = pack(clean, clip=True)
    scene = np.clip(scene, 0.0, 1.0)
    _, h, w = scene.shape
    side = max(4, int(object_side * h))
    patch = scene[:, h - side :, w - side :][:, ::-1, ::-1].copy()
    patch = np.clip(patch * 1.5 + 0.05, 0.0, 1.0)  # a person is not the wall behind
    top = (h - side) // 2
    lefts = np.linspace(0.15 * w, 0.85 * w - side, count).astype(int)
    path = np.zeros((h, w), dtype=bool)
    template = _sensor(clean, noise)
    frames, shifts = [], []
    truth = None
    for k in range(count):
        view = scene.copy()
        view[:, top : top + side, lefts[k] : lefts[k] + side] = patch
        path[top : top + side, lefts[k] : lefts[k] + side] = True
        if k == 0:
            dy = dx = angle = 0.0
            truth = view.copy()
        else:
            dy, dx = rng.uniform(-shake, shake, size=2)
            angle = float(rng.uniform(-max_rotation, max_rotation))
            view = _moved(view, dy, dx, angle)
        shifts.append((float(dy), float(dx), angle))
        dark = short_exposure(view, ratio, noise, rng)  # DN / white of the noise model's sensor
        frames.append(_as_raw(template, dark))
    boxes = [(top, int(left), side) for left in lefts]
    return SyntheticBurst(frames, _as_raw(template, truth), path, shifts, boxes)


def _sensor(clean: RawImage, noise: NoiseParams) -> RawImage:
    """The clean raw's colours and metadata on the noise model's sensor: RGGB from the top-left
    corner, its black and white levels (a black level above 0 keeps the noise below black, as
    a real dark frame does: clipped at 0 it would brighten the shadows)."""
    black = noise.black
    return dataclasses.replace(
        clean,
        cfa="RGGB",
        black_level=(black,) * 4,
        white_level=black + noise.white,
        orientation=0,
        path="",
        iso=0.0,
        exposure_time=0.0,
    )


def _as_raw(template: RawImage, packed: np.ndarray) -> RawImage:
    """Packed values (fractions of white, black 0) as a raw of `template`'s sensor."""
    return dataclasses.replace(template, mosaic=mosaic_from_merged(packed, template))

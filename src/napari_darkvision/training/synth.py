"""Synthetic low-light pairs: a clean photo unprocessed to linear raw (:mod:`.unprocess`), then a
short exposure with calibrated sensor physics (:mod:`.noise_model`) and, optionally, sensor
defects (:mod:`.defects`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .defects import SensorDefects, add_defects
from .noise_model import ELD_BLACK, ELD_WHITE, NoiseModel, NoiseParams, amplify, short_exposure
from .unprocess import CameraLook, process, random_look, unprocess

# The names synth held before unprocessing and the noise model left it, for code written then.
__all__ = [
    "ELD_BLACK",
    "ELD_WHITE",
    "TRAIN_RATIO_RANGE",
    "CameraLook",
    "NoiseModel",
    "NoiseParams",
    "Pair",
    "amplify",
    "make_pair",
    "process",
    "random_look",
    "short_exposure",
    "unprocess",
]

#: SID's exposure ratios are 100, 250 and 300; train with a margin either side.
TRAIN_RATIO_RANGE = (70.0, 380.0)


@dataclass
class Pair:
    noisy: np.ndarray  # (4, h, w) network input (amplified)
    clean: np.ndarray  # (4, h, w) target
    ratio: float
    noise: NoiseParams
    look: CameraLook


def make_pair(
    clean: np.ndarray,
    look: CameraLook,
    noise_model: NoiseModel,
    rng: np.random.Generator,
    ratio: float | None = None,
    camera: str | None = None,
    defects: SensorDefects | None = None,
) -> Pair:
    """A noisy/clean pair from a clean packed image; `defects` adds sensor defects to the short
    exposure before it is amplified, as a real sensor would."""
    if ratio is None:
        lo, hi = TRAIN_RATIO_RANGE
        ratio = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    noise = noise_model.sample(rng, camera)
    short = short_exposure(clean, ratio, noise, rng)
    if defects is not None:
        short = add_defects(short, noise, defects, rng)
    return Pair(amplify(short, ratio), clean, ratio, noise, look)

"""Sensor defects that ELD's noise model leaves out: hot and stuck pixels, column banding (fixed
pattern noise) and 12-bit converters. Added to a synthetic short exposure so that a model can
learn them and a validation set can measure what each costs.

Rates and sizes are assumptions of the right order for consumer sensors, to be checked against
real dark frames (a calibration's hot-pixel map gives them): hot pixels at 1e-4 to 1e-3 of the
pixels, a few stuck at white per million, column offsets of 0.2-1.5 DN on a 14-bit scale (the
order of the row noise ELD measured), and 12-bit converters whose DN is four 14-bit DN. Dark
shading, a smooth drift of the black level, is the calibration's (core.calibration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .noise_model import NoiseParams

#: Names of the defects :func:`add_defects` knows, for validation sets that add one at a time.
DEFECTS = ("hot", "stuck", "columns", "12-bit")


@dataclass(frozen=True)
class SensorDefects:
    """One sensor's defects; all off by default."""

    hot_fraction: float = 0.0  # pixels with a dark-current offset
    hot_dn: tuple[float, float] = (30.0, 3000.0)  # their offsets, log-uniform, 14-bit DN
    stuck_fraction: float = 0.0  # pixels that always read white
    column_sigma: float = 0.0  # per-column offset, DN (the same in every frame of this sensor)
    bits: int = 14  # 12: the converter's step is 4 DN of the 14-bit scale

    @classmethod
    def only(cls, name: str) -> SensorDefects:
        """Release-validation strength of one defect alone."""
        return {
            "hot": cls(hot_fraction=5e-4),
            "stuck": cls(stuck_fraction=2e-5),
            "columns": cls(column_sigma=0.5),
            "12-bit": cls(bits=12),
        }[name]

    @classmethod
    def random(cls, rng: np.random.Generator) -> SensorDefects:
        """A training draw: each defect present with probability 1/2, at a random strength."""

        def maybe(value: float) -> float:
            return value if rng.uniform() < 0.5 else 0.0

        return cls(
            hot_fraction=maybe(float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-3))))),
            stuck_fraction=maybe(float(rng.uniform(0.0, 3e-5))),
            column_sigma=maybe(float(rng.uniform(0.2, 1.5))),
            bits=12 if rng.uniform() < 0.25 else 14,
        )


def add_defects(
    short: np.ndarray, noise: NoiseParams, defects: SensorDefects, rng: np.random.Generator
) -> np.ndarray:
    """A normalised short exposure (4, h, w) from :func:`~.noise_model.short_exposure`, with `defects`.

    Works in DN like the sensor: offsets added, then the converter's step, then clipping at black
    and white; the same `rng` state gives the same defects."""
    white = noise.white
    dn = short.astype(np.float64) * white
    _, h, w = dn.shape
    if defects.hot_fraction > 0:
        hot = rng.uniform(size=dn.shape) < defects.hot_fraction
        low, high = np.log(defects.hot_dn[0]), np.log(defects.hot_dn[1])
        dn[hot] += np.exp(rng.uniform(low, high, size=int(hot.sum())))
    if defects.column_sigma > 0:
        # one offset per sensor column: R and G2 lie in even columns, G1 and B in odd ones (RGGB)
        columns = rng.normal(0.0, defects.column_sigma, size=(2, w))
        dn += columns[[0, 1, 1, 0]][:, None, :]
    if defects.bits < 14:
        step = 2.0 ** (14 - defects.bits)
        dn = np.round(dn / step) * step
    dn = np.clip(dn, -noise.black, white)
    if defects.stuck_fraction > 0:
        dn[rng.uniform(size=dn.shape) < defects.stuck_fraction] = white
    return (dn / white).astype(np.float32)

"""Sensor noise after Wei et al., "A Physics-based Noise Formation Model for Extreme Low-light
Raw Denoising" (ELD), CVPR 2020: shot noise K*Poisson(x/K), Tukey-lambda or Gaussian read noise
and row noise whose scales follow log-linear fits in K, quantisation to whole DN, clipping at
black and white. Calibrations: ELD's ``eld_camera_params.json`` (MIT), and darktable's
Poisson-Gaussian noise profiles (GPL-3+ data) for more cameras.

Works on packed arrays (4, h, w), values normalised so that 0 is black and 1 the white level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

#: ELD calibrations are on a 14-bit scale with the Sony's black level 512.
ELD_WHITE, ELD_BLACK = 16383.0, 512.0


@dataclass
class NoiseParams:
    """One draw of a sensor's noise, in DN after black subtraction."""

    camera: str
    K: float  # system gain, DN per electron
    read_sigma: float
    read_lambda: float | None  # Tukey-lambda shape; None = Gaussian read noise
    row_sigma: float
    white: float  # white level - black level, DN
    black: float  # black level, DN (values below -black clip)

    def read_variance(self, rows: bool = True) -> float:
        """The variance (DN^2) that does not depend on the signal: read noise, row noise (left out
        with ``rows=False``: one offset per row, which differences along a row cancel) and the
        rounding to whole DN (1/12)."""
        read_var = self.read_sigma**2 * _tukey_variance(self.read_lambda)
        return read_var + (self.row_sigma**2 if rows else 0.0) + 1.0 / 12.0

    def variance(self, signal_dn: np.ndarray) -> np.ndarray:
        """Per-pixel variance (DN^2) of the noisy value given the clean one: what BM3D is told."""
        return self.K * np.maximum(signal_dn, 0.0) + self.read_variance()


def _tukey_variance(lam: float | None) -> float:
    """Variance of a unit-scale Tukey-lambda variable (1 for the Gaussian)."""
    if lam is None:
        return 1.0
    if abs(lam) < 1e-3:
        return np.pi**2 / 3.0
    from math import gamma

    return (2.0 / lam**2) * (1.0 / (1 + 2 * lam) - gamma(lam + 1) ** 2 / gamma(2 * lam + 2))


class NoiseModel:
    """Samples camera noise draws from the ELD calibrations and darktable profiles."""

    def __init__(
        self,
        eld: dict,
        darktable: list[dict] | None = None,
        sony_weight: float = 0.5,
        darktable_weight: float = 0.25,
    ):
        self.eld = eld
        #: Other cameras vary the noise's shape, not its strength: their gains stop at the SID
        #: camera's top one. (Their own top ISOs, up to 28 DN per electron on the same 14-bit
        #: scale, made half the training pairs far darker than SID's and taught the network to
        #: blur everything.)
        self.max_K = eld["SonyA7S2"]["Kmax"] if "SonyA7S2" in eld else float("inf")
        darktable = [p for p in darktable or [] if np.mean(p["a"]) * (ELD_WHITE - ELD_BLACK) <= self.max_K]
        self.darktable = darktable
        self.sony_weight = sony_weight
        self.darktable_weight = darktable_weight if self.darktable else 0.0

    @classmethod
    def from_files(cls, eld_path: str, darktable_path: str | None = None, min_iso: int = 800):
        with open(eld_path) as f:
            eld = json.load(f)
        profiles = []
        if darktable_path:
            with open(darktable_path) as f:
                data = json.load(f)
            for maker in data["noiseprofiles"]:
                for model in maker["models"]:
                    for p in model.get("profiles", []):
                        if p.get("iso", 0) >= min_iso and min(p["a"]) > 0:
                            profiles.append({"name": p["name"], "a": p["a"], "b": p["b"]})
        return cls(eld, profiles)

    def sample(self, rng: np.random.Generator, camera: str | None = None) -> NoiseParams:
        u = rng.uniform()
        if camera is None:
            if u < self.darktable_weight:
                return self._darktable(rng)
            camera = (
                "SonyA7S2"
                if u < self.darktable_weight + self.sony_weight
                else rng.choice([c for c in self.eld if c != "SonyA7S2"])
            )
        return self.eld_params(camera, rng)

    def eld_params(self, camera: str, rng: np.random.Generator, K: float | None = None) -> NoiseParams:
        cal = self.eld[camera]
        if K is None:
            k_max = min(cal["Kmax"], self.max_K)
            K = float(np.exp(rng.uniform(np.log(min(cal["Kmin"], k_max)), np.log(k_max))))
        profile = cal["Profile-1"]

        def scale(name: str) -> float:
            fit = profile[name]
            mean = fit["slope"] * np.log(K) + fit["bias"]
            return float(np.exp(rng.normal(mean, fit["sigma"])))

        if rng.uniform() < 0.5:
            read_sigma, lam = scale("G_scale"), float(rng.choice(cal["G_shape"]))
        else:
            read_sigma, lam = scale("g_scale"), None
        return NoiseParams(
            camera=str(camera),
            K=K,
            read_sigma=read_sigma,
            read_lambda=lam,
            row_sigma=scale("R_scale"),
            white=ELD_WHITE - ELD_BLACK,
            black=ELD_BLACK,
        )

    def _darktable(self, rng: np.random.Generator) -> NoiseParams:
        p = self.darktable[rng.integers(len(self.darktable))]
        white = ELD_WHITE - ELD_BLACK  # express the [0, 1] profile on the same 14-bit scale
        a = float(np.mean(p["a"]))
        b = float(np.mean(p["b"]))
        return NoiseParams(
            camera=f"darktable:{p['name']}",
            K=a * white,
            read_sigma=float(np.sqrt(max(b, 0.0)) * white),
            read_lambda=None,
            row_sigma=0.0,
            white=white,
            black=ELD_BLACK,
        )


def _tukey_lambda(rng: np.random.Generator, lam: float, shape) -> np.ndarray:
    u = rng.uniform(1e-7, 1 - 1e-7, size=shape)
    if abs(lam) < 1e-3:
        return np.log(u / (1 - u))
    return (u**lam - (1 - u) ** lam) / lam


def short_exposure(
    clean: np.ndarray, ratio: float, noise: NoiseParams, rng: np.random.Generator
) -> np.ndarray:
    """Clean packed raw (long exposure, [0, 1]) -> the noisy short exposure, normalised but NOT
    amplified: values are DN / white, negatives kept down to -black (as a real file gives)."""
    signal_dn = np.clip(clean, 0.0, 1.0) * noise.white / ratio
    electrons = rng.poisson(signal_dn / noise.K)
    noisy = noise.K * electrons.astype(np.float32)
    if noise.read_lambda is None:
        noisy += rng.normal(0.0, noise.read_sigma, size=clean.shape)
    else:
        noisy += noise.read_sigma * _tukey_lambda(rng, noise.read_lambda, clean.shape)
    if noise.row_sigma > 0:
        rows = rng.normal(0.0, noise.row_sigma, size=(2, clean.shape[1], 1))
        noisy += rows[[0, 0, 1, 1]]  # R,G1 share a sensor row; B,G2 the next
    noisy = np.round(noisy)  # the ADC gives whole DN
    noisy = np.clip(noisy, -noise.black, noise.white)
    return (noisy / noise.white).astype(np.float32)


def amplify(short: np.ndarray, ratio: float) -> np.ndarray:
    """What the network sees: the short exposure x ratio, clipped at white (as SID does)."""
    return np.minimum(short * ratio, 1.0).astype(np.float32)

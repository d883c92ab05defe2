"""Synthetic low-light pairs: clean photos "unprocessed" to linear raw, then a short exposure
with calibrated sensor physics.

- Unprocessing follows Brooks et al., "Unprocessing Images for Learned Raw Denoising",
  CVPR 2019: inverse sRGB gamma, inverse global tone curve, inverse colour matrix drawn from
  real cameras, inverse white-balance gains (highlight-preserving), mosaic.
- Sensor noise follows Wei et al., "A Physics-based Noise Formation Model for Extreme Low-light
  Raw Denoising" (ELD), CVPR 2020: shot noise K*Poisson(x/K), Tukey-lambda or Gaussian read
  noise and row noise whose scales follow log-linear fits in K, quantisation to whole DN,
  clipping at black and white. Calibrations: ELD's ``eld_camera_params.json`` (MIT), and
  darktable's Poisson-Gaussian noise profiles (GPL-3+ data) for more cameras.

Everything works on packed arrays (4, h, w) in channel order R, G1, B, G2, values normalised so
that 0 is black and 1 the white level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .defects import SensorDefects

#: camera -> linear sRGB matrices of real cameras. The first six were read with rawpy from the
#: files in ../shared/raw (LibRaw's tables or the DNG ColorMatrix tags); the Sony A7S (also
#: A7S II, the SID camera) one is computed from dcraw/LibRaw's adobe_coeff
#: {5838,-1430,-246,-3497,11477,2297,-748,1885,5778}.
CAMERA_MATRICES = {
    "Canon EOS 30D": [[1.8499, -0.9964, 0.1465], [-0.0383, 1.3374, -0.2991], [0.0563, -0.351, 1.2946]],
    "Canon EOS 550D": [[1.8178, -0.9643, 0.1465], [-0.2289, 1.7738, -0.5449], [-0.0195, -0.4681, 1.4877]],
    "Blackmagic Pocket 4K": [
        [1.5885, -0.2863, -0.3022],
        [-0.2127, 1.5025, -0.2898],
        [0.0204, -0.4844, 1.464],
    ],
    "GoPro HERO7": [[1.533, -0.1789, -0.3542], [-0.2848, 1.6791, -0.3943], [-0.0289, -0.4421, 1.471]],
    "Panasonic (RW2)": [[1.5859, -0.4137, -0.1721], [-0.0937, 1.6478, -0.5542], [0.0519, -0.567, 1.5151]],
    "Canon (DNG)": [[1.7229, -0.8995, 0.1766], [0.0194, 1.3393, -0.3587], [0.0242, -0.315, 1.2908]],
    "Sony A7S II": [[1.9712, -0.6789, -0.2923], [-0.291, 1.7484, -0.4574], [0.0205, -0.538, 1.5175]],
}

#: Camera white-balance multipliers (R/G, B/G) seen on real daylight-to-tungsten raws: the
#: shared files span R 1.45-2.48 and B 1.45-1.99; a margin either side.
RED_GAIN_RANGE = (1.3, 2.7)
BLUE_GAIN_RANGE = (1.2, 2.3)

#: SID's exposure ratios are 100, 250 and 300; train with a margin either side.
TRAIN_RATIO_RANGE = (70.0, 380.0)

#: ELD calibrations are on a 14-bit scale with the Sony's black level 512.
ELD_WHITE, ELD_BLACK = 16383.0, 512.0


# --- unprocess / process --------------------------------------------------------------------


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def inverse_smoothstep(y: np.ndarray) -> np.ndarray:
    """Brooks et al.'s inverse of the global tone curve 3x^2 - 2x^3."""
    y = np.clip(y, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 3.0 * x**2 - 2.0 * x**3


@dataclass
class CameraLook:
    """How a synthetic raw would be rendered: white balance and colour matrix."""

    wb: np.ndarray  # (4,) R, G1, B, G2 multipliers, green 1
    rgb_from_camera: np.ndarray  # (3, 3)
    exposure: float = 1.0  # linear brightness scale applied to the clean raw

    def packed_to_rgb(self) -> np.ndarray:
        """(3, 4) matrix: packed R, G1, B, G2 -> linear sRGB, white balance and colour matrix
        in one (what :func:`napari_darkvision.core.render.quick_render` does before its clip
        and gamma)."""
        r, g, b = self.wb[0], self.wb[1], self.wb[2]
        camera_from_packed = np.array(
            [[r, 0, 0, 0], [0, 0.5 * g, 0, 0.5 * g], [0, 0, b, 0]], dtype=np.float64
        )
        return (np.asarray(self.rgb_from_camera, dtype=np.float64) @ camera_from_packed).astype(np.float32)


def random_look(rng: np.random.Generator) -> CameraLook:
    """A random convex mix of real camera matrices and plausible white balance (Brooks)."""
    mats = np.array(list(CAMERA_MATRICES.values()))
    weights = rng.dirichlet(np.full(len(mats), 0.5))
    rgb_from_camera = np.tensordot(weights, mats, axes=1)
    red = rng.uniform(*RED_GAIN_RANGE)
    blue = rng.uniform(*BLUE_GAIN_RANGE)
    exposure = float(np.exp(rng.uniform(np.log(0.25), np.log(1.0))))
    return CameraLook(np.array([red, 1.0, blue, 1.0]), rgb_from_camera, exposure)


def unprocess(rgb: np.ndarray, look: CameraLook) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> clean packed linear raw (4, H/2, W/2) float32."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    linear = srgb_to_linear(inverse_smoothstep(rgb[:h, :w].astype(np.float32)))
    camera = linear @ np.linalg.inv(look.rgb_from_camera).T
    gains = look.wb[[0, 1, 2]]
    camera = _safe_invert_gains(camera, gains) * look.exposure
    camera = np.clip(camera, 0.0, 1.0)
    packed = np.stack(
        [camera[0::2, 0::2, 0], camera[0::2, 1::2, 1], camera[1::2, 1::2, 2], camera[1::2, 0::2, 1]]
    )
    return packed.astype(np.float32)


def _safe_invert_gains(camera: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Divide by the WB gains, but keep highlights that the gains would push past white (Brooks)."""
    inverse = 1.0 / gains
    gray = np.mean(camera, axis=-1, keepdims=True)
    threshold = 0.9
    mask = (np.maximum(gray - threshold, 0.0) / (1.0 - threshold)) ** 2
    safe = np.maximum(mask + (1.0 - mask) * inverse, inverse)
    return camera * safe


def process(packed: np.ndarray, look: CameraLook, tone: bool = True) -> np.ndarray:
    """Inverse of :func:`unprocess` on a half-resolution grid: packed -> sRGB (h, w, 3)."""
    rgb = np.stack([packed[0], 0.5 * (packed[1] + packed[3]), packed[2]], axis=-1) / look.exposure
    rgb = np.clip(rgb * look.wb[[0, 1, 2]], 0.0, 1.0)
    rgb = np.clip(rgb @ look.rgb_from_camera.T, 0.0, 1.0)
    srgb = linear_to_srgb(rgb)
    return smoothstep(srgb) if tone else srgb


# --- sensor noise ----------------------------------------------------------------------------


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
        from .defects import add_defects

        short = add_defects(short, noise, defects, rng)
    return Pair(amplify(short, ratio), clean, ratio, noise, look)

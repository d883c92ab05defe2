"""Clean photos "unprocessed" to linear raw, after Brooks et al., "Unprocessing Images for
Learned Raw Denoising", CVPR 2019: inverse sRGB gamma, inverse global tone curve, inverse colour
matrix drawn from real cameras, inverse white-balance gains (highlight-preserving), mosaic.

Everything works on packed arrays (4, h, w) in channel order R, G1, B, G2, values normalised so
that 0 is black and 1 the white level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

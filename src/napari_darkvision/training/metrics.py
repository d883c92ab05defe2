"""Image quality figures used by training and evaluation."""

from __future__ import annotations

import numpy as np


def psnr(estimate: np.ndarray, reference: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of `estimate` against `reference`, both clipped to [0, peak].

    Parameters
    ----------
    estimate, reference
        Arrays of one shape (or broadcastable); integer images are compared in float64, so
        that 16-bit differences do not overflow.
    peak
        The largest value, e.g. 1.0 for [0, 1] images or 65535.0 for 16-bit ones.
    """
    estimate, reference = _as_float(estimate), _as_float(reference)
    mse = float(np.mean((np.clip(estimate, 0, peak) - np.clip(reference, 0, peak)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image if np.issubdtype(image.dtype, np.floating) else image.astype(np.float64)


def ssim(estimate: np.ndarray, reference: np.ndarray, channel_axis: int = -1) -> float:
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.clip(estimate, 0, 1), np.clip(reference, 0, 1), data_range=1.0, channel_axis=channel_axis
        )
    )


def channel_mean_error(estimate: np.ndarray, reference: np.ndarray) -> list[float]:
    """Relative error of each packed channel's mean, (4, h, w) arrays: the colour-cast check."""
    return [
        float(estimate[c].mean() / max(reference[c].mean(), 1e-8) - 1.0) for c in range(estimate.shape[0])
    ]


def shadow_mean_error(estimate: np.ndarray, reference: np.ndarray, fraction: float = 0.05) -> float:
    """Relative error of the mean over the reference's darkest `fraction` of pixels (luminance of
    the packed image), the shadow-level check."""
    luma_ref = reference.mean(axis=0)
    threshold = np.quantile(luma_ref, fraction)
    mask = luma_ref <= threshold
    ref = float(luma_ref[mask].mean())
    est = float(estimate.mean(axis=0)[mask].mean())
    return est / max(ref, 1e-8) - 1.0

"""The noise level of an amplified packed image: estimated from the image itself, and as the
map on a log scale that the noise-aware networks take as an input."""

from __future__ import annotations

import torch

#: Positions per channel the noise is measured at (an even grid): as many estimate as well as
#: all of a 12 MP frame's (tests/test_threads.py compares them) at a small part of the time.
NOISE_POSITIONS = 2**16


def estimate_noise(x: torch.Tensor, positions: int = NOISE_POSITIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson-Gaussian noise of each amplified packed image in a batch (n, 4, h, w): the
    variance is ``a * signal + b``; returns (a, b), each of shape (n,).

    All four channels come from one sensor, so they share a and b. The residual of a 3x3
    kernel that cancels planes and quadratic surfaces (Immerkaer 1996) measures the noise; its
    median absolute value, in the darker and the brighter half of the pixels, gives two points
    of the line. Medians ignore the few pixels where texture or edges leak through. It is
    measured at about `positions` places per channel, on an even grid."""
    kernel = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], device=x.device) / 6.0
    n, c, h, w = x.shape
    if min(h, w) < 3:
        return x.new_zeros(n, dtype=torch.float32), x.new_full((n,), 1e-8, dtype=torch.float32)
    flat = x.float().reshape(n * c, 1, h, w)
    stride = max(1, int((h * w / positions) ** 0.5))
    residual = torch.nn.functional.conv2d(flat, kernel[None, None], stride=stride)
    level = torch.nn.functional.avg_pool2d(flat, 3, stride=stride)
    # for unit-variance white noise the kernel's output has variance sum(k^2) = 36/36 = 1
    residual, level = residual.reshape(n, -1).abs(), level.reshape(n, -1)
    dark = level <= level.median(dim=1, keepdim=True).values
    points = []
    for part in (dark, ~dark):
        mad = residual.masked_fill(~part, float("nan")).nanmedian(dim=1).values.nan_to_num(0.0)
        mean_level = (level * part).sum(dim=1) / part.sum(dim=1).clamp(min=1)
        points.append((mean_level, (1.4826 * mad) ** 2))
    (m0, v0), (m1, v1) = points
    spread = m1 - m0 > 1e-4  # a flat image gives one point: no slope
    a = torch.where(spread, (v1 - v0) / (m1 - m0).clamp(min=1e-4), 0.0).clamp(min=0.0)
    b = torch.where(spread, v0 - a * m0, (v0 + v1) / 2).clamp(min=1e-8)
    return a, b


def noise_level_map(x: torch.Tensor, noise: tuple | None = None) -> torch.Tensor:
    """(n, 1, h, w): the expected noise standard deviation at each pixel of the input, for the
    noise `(a, b)` (see :func:`estimate_noise`; estimated from `x` if not given), on a log scale
    where -1 is sigma 0.0025 and +1 sigma 0.135: inputs of order one, as the image's are (the
    plain sigma, 0.002-0.2, moved its weights 50 times too slowly to be learnt).

    `noise` may carry a third item, (n, 1, h, w) factors of that variance per pixel: a merged
    burst's (one over the frames merged there, see :mod:`.burst`)."""
    a, b = (estimate_noise(x) if noise is None else noise)[:2]
    signal = torch.nn.functional.avg_pool2d(
        x.float().mean(dim=1, keepdim=True), 5, stride=1, padding=2, count_include_pad=False
    ).clamp(min=0.0)
    variance = a[:, None, None, None] * signal + b[:, None, None, None]
    if noise is not None and len(noise) > 2:
        variance = variance * noise[2]
    return log_scale(variance)


def log_scale(variance: torch.Tensor) -> torch.Tensor:
    """Variance -> the noise map's scale (-1: sigma 0.0025, +1: sigma 0.135)."""
    return 0.25 * variance.clamp(min=1e-12).log() + 2.0

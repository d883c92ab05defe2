"""Hot and stuck pixels found blind, without a calibration, and replaced before the network.

A hot pixel is one sensor pixel far brighter than all eight of its same-colour neighbours while
the pixels of the other colours beside it are not: light from the scene, however sharp, passes
the lens and reaches several neighbouring sensor pixels of every colour, a defect only its own.
Amplified x100-x300, an untouched hot pixel would reach the network as a saturated point in one
channel, which it renders as a coloured blob.
"""

from __future__ import annotations

import numpy as np

#: A pixel stands out when it exceeds its brightest same-colour neighbour by this many noise
#: standard deviations (at that neighbour's level) ...
NOISE_SIGMAS = 6.0
#: ... and by at least this much of white, so that clean, textured images are left alone.
MIN_EXCESS = 0.05
#: The other colours at the same place may stand out by at most this fraction as much.
OTHER_COLOURS_AT_MOST = 0.25


#: Rows of the packed image examined at a time: bounded memory at any image size.
BAND_ROWS = 256


_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _excess(padded, channel, row, col):
    """How far each pixel (indices into the unpadded band) stands above its brightest neighbour,
    that neighbour's value, and the 8 neighbours."""
    import torch

    around = torch.stack([padded[channel, row + 1 + dy, col + 1 + dx] for dy, dx in _OFFSETS])
    brightest = around.amax(dim=0)
    return padded[channel, row + 1, col + 1] - brightest, brightest, around


def _hot_in_band(padded, noise: tuple[float, float]):
    """(channel, row, col, replacement) of the hot pixels inside a (4, h+2, w+2) padded band."""
    import torch

    a, b = noise
    centre = padded[:, 1:-1, 1:-1]
    # a cheap first sieve: what must stand above all 8 neighbours stands above the 2 beside it
    beside = torch.maximum(padded[:, 1:-1, :-2], padded[:, 1:-1, 2:])
    floor = (NOISE_SIGMAS * (a * beside.clamp(min=0.0) + b).clamp(min=1e-12).sqrt()).clamp(min=MIN_EXCESS)
    channel, row, col = ((centre - beside) > floor).nonzero(as_tuple=True)
    if not len(channel):
        return None
    excess, brightest, around = _excess(padded, channel, row, col)
    sigma = (a * brightest.clamp(min=0.0) + b).clamp(min=1e-12).sqrt()
    keep = (excess > NOISE_SIGMAS * sigma) & (excess > MIN_EXCESS)
    # light from the scene shows in the other colours at the same place too
    for shift in (1, 2, 3):
        other, _, _ = _excess(padded, (channel + shift) % 4, row, col)
        keep &= other < OTHER_COLOURS_AT_MOST * excess
    if not bool(keep.any()):
        return None
    return channel[keep], row[keep], col[keep], around[:, keep].median(dim=0).values


def replace_hot_pixels(packed: np.ndarray, noise: tuple[float, float]) -> tuple[np.ndarray, int]:
    """Replace hot and stuck pixels of an amplified packed image (4, h, w) by the median of their
    same-colour neighbours; `noise` is its (a, b): variance = a * signal + b. Returns the image
    (a copy only where something was replaced) and how many pixels were."""
    import torch

    from .threads import map_in_order

    h = packed.shape[1]
    if min(packed.shape[-2:]) < 3:
        return packed, 0
    noise = tuple(float(v) for v in noise)
    image = torch.from_numpy(packed)

    def find(top: int):
        band = image[:, max(top - 1, 0) : min(top + BAND_ROWS + 1, h)]
        pad_top, pad_bottom = int(top == 0), int(top + BAND_ROWS >= h)
        padded = torch.nn.functional.pad(band[None], (1, 1, pad_top, pad_bottom), mode="reflect")[0]
        return top, _hot_in_band(padded, noise)

    out, count = packed, 0
    # bands side by side, each on a fixed number of threads (the same pixels at any thread count)
    for top, found in map_in_order(find, range(0, h, BAND_ROWS)):
        if found is None:
            continue
        if out is packed:
            out = packed.copy()
        channel, row, col, values = found
        out[channel.numpy(), row.numpy() + top, col.numpy()] = values.numpy()
        count += len(channel)
    return out, count

"""Tiled inference with overlap: bounded memory at any image size, and no visible seams.

Tiles overlap by `overlap` packed pixels; each output pixel is a weighted mean of the tiles
covering it, with weights ramping down towards a tile's edges, where a convolutional network
sees the least context.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

DEFAULT_TILE = 512  # packed pixels (1 MP of sensor)
DEFAULT_OVERLAP = 32


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile`, overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _ramp(size: int, overlap: int) -> np.ndarray:
    weights = np.ones(size, dtype=np.float32)
    if overlap > 0:
        edge = (np.arange(overlap, dtype=np.float32) + 1.0) / (overlap + 1.0)
        weights[:overlap] = np.minimum(weights[:overlap], edge)
        weights[-overlap:] = np.minimum(weights[-overlap:], edge[::-1])
    return weights


def count_tiles(shape: tuple[int, int], tile: int, overlap: int) -> int:
    h, w = shape
    return len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))


def run_tiled(model, packed: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
              device=None) -> Generator[tuple[int, int], None, np.ndarray]:  # fmt: skip
    """Apply `model` to a (4, h, w) float32 array tile by tile.

    A generator: yields (tiles done, tiles in all) after each tile and returns the (4, h, w)
    float32 result (``result = yield from run_tiled(...)``). Closing it stops between tiles.
    """
    import torch
    import torch.nn.functional as F

    multiple = model.config.multiple
    tile = max(multiple, tile // multiple * multiple)
    overlap = min(overlap, tile // 4)
    device = device or next(model.parameters()).device
    channels_last = device.type == "cpu"
    _, h, w = packed.shape
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    total = len(ys) * len(xs)
    out = np.zeros_like(packed, dtype=np.float32)
    weight = np.zeros((h, w), dtype=np.float32)
    done = 0
    with torch.inference_mode():
        for y in ys:
            for x in xs:
                piece = packed[:, y : y + tile, x : x + tile]
                th, tw = piece.shape[1:]
                t = torch.from_numpy(np.ascontiguousarray(piece))[None].to(device)
                pad_h, pad_w = (-th) % multiple, (-tw) % multiple
                if pad_h or pad_w:
                    t = F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")
                if channels_last:
                    t = t.contiguous(memory_format=torch.channels_last)
                result = model(t)[0, :, :th, :tw].float().clamp_(0.0, 1.0).cpu().numpy()
                wy = _ramp(th, overlap if len(ys) > 1 else 0)
                wx = _ramp(tw, overlap if len(xs) > 1 else 0)
                tile_weight = wy[:, None] * wx[None, :]
                out[:, y : y + th, x : x + tw] += result * tile_weight
                weight[y : y + th, x : x + tw] += tile_weight
                done += 1
                yield done, total
    out /= weight
    return out

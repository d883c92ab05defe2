"""``fast-aware`` (release 5): fast-detail plus the noise level of its input and a detail gate.
Every version without them blurred fine texture even in clean input."""

from __future__ import annotations

import torch
from torch import nn

from ..noise import log_scale
from .blocks import box_mean, layout_of
from .detail import DetailUNet


class NoiseAwareUNet(DetailUNet):
    def __init__(self, config):
        super().__init__(config)
        # Per pixel and channel, how much of (input - estimate) to add back: it sees how
        # far that residual's local energy stands above the expected noise variance (both
        # on the noise map's log scale), the noise level and the estimate. It starts almost
        # closed (sigmoid(-4) = 1.8 %), near the network without it, and trains at 10x the
        # learning rate of the rest (training.train): otherwise it needs ~10^4 steps to open.
        self.gate = nn.Sequential(
            nn.Conv2d(9, 16, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(16, 4, 3, padding=1),
        )
        nn.init.zeros_(self.gate[2].weight)
        nn.init.constant_(self.gate[2].bias, -4.0)

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        """`noise`: the input's (a, b) from :func:`~..noise.estimate_noise` of the whole image,
        when `x` is a tile of it; estimated from `x` if not given."""
        extra = self.noise_input(x, noise)
        h = self.body(x, extra)
        bfloat16 = torch.is_autocast_enabled(x.device.type)
        layout = layout_of(x)
        with torch.autocast(x.device.type, enabled=False):
            out = self.refined(x, self.head_output(h, layout), extra, bfloat16)
            return out + self._gated_detail(x.float(), out, extra[0].float(), bfloat16, layout)

    def _gated_detail(self, x, out, noise_map, bfloat16: bool, layout) -> torch.Tensor:
        residual = x - out
        energy = box_mean(residual * residual, 3)
        above_noise = log_scale(energy) - noise_map
        features = torch.cat([above_noise, noise_map, out], dim=1).contiguous(memory_format=layout)
        # the gate's own layers may run in bfloat16: it only weighs, the residual stays float32
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            logits = self.gate(features)
        return torch.sigmoid(logits.float()) * residual

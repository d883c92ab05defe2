"""``fast-rep`` (release 6 candidate): fast-aware's shape at half its width (a quarter of the
body's multiply-adds), each 3x3 convolution trained with 1x1 and identity branches that
:func:`~..repconv.reparameterise` folds into it for inference (RepVGG, Ding et al. 2021), skips
added rather than concatenated, and one packed-resolution stage instead of refine plus gate."""

from __future__ import annotations

import torch
from torch import nn

from ..noise import log_scale
from ..repconv import RepConv
from .blocks import UNetBody, box_mean, layout_of


class FastRepUNet(UNetBody):
    conv = RepConv
    additive_skips = True

    def __init__(self, config):
        super().__init__(config)
        # One stage for what refine and gate do apart: from the input, the estimate, the
        # noise level and the residual's energy above it, a correction (starts at zero) and
        # the gate's logits (start nearly closed).
        self.detail = nn.Sequential(
            nn.Conv2d(13, config.detail_channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )
        self.detail_correction = nn.Conv2d(config.detail_channels, 4, 3, padding=1)
        self.detail_gate = nn.Conv2d(config.detail_channels, 4, 3, padding=1)
        nn.init.zeros_(self.detail_correction.weight)
        nn.init.zeros_(self.detail_correction.bias)
        nn.init.zeros_(self.detail_gate.weight)
        nn.init.constant_(self.detail_gate.bias, -4.0)

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        """`noise`: the input's (a, b) from :func:`~..noise.estimate_noise` of the whole image,
        when `x` is a tile of it; estimated from `x` if not given."""
        extra = self.noise_input(x, noise)
        h = self.body(x, extra)
        bfloat16 = torch.is_autocast_enabled(x.device.type)
        layout = layout_of(x)
        with torch.autocast(x.device.type, enabled=False):
            out = self.head_output(h, layout)
            return out + self._fused_detail(x.float(), out, extra[0].float(), bfloat16, layout)

    def _fused_detail(self, x, out, noise_map, bfloat16: bool, layout) -> torch.Tensor:
        residual = x - out
        above_noise = log_scale(box_mean(residual * residual, 3)) - noise_map
        features = torch.cat([x, out, noise_map, above_noise], dim=1).contiguous(memory_format=layout)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            hidden = self.detail(features)
            correction, logits = self.detail_correction(hidden), self.detail_gate(hidden)
        # two heads, not one of 8 channels split in two: slices of a channels-last tensor are slow
        return torch.addcmul(correction.float(), torch.sigmoid(logits.float()), residual)

"""``fast-detail``: the folded U-Net plus a stage at packed resolution that sees the input."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import UNetBody, layout_of


class DetailUNet(UNetBody):
    def __init__(self, config):
        super().__init__(config)
        # Fine texture survives the fold into s x s blocks only through the head's few
        # channels; this stage puts it back from the input where the noise allows. Its last
        # layer starts at zero, so training starts from the network without it.
        self.refine = nn.Sequential(
            nn.Conv2d(8 + (1 if config.noise_map else 0), config.detail_channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(config.detail_channels, 4, 3, padding=1),
        )
        nn.init.zeros_(self.refine[2].weight)
        nn.init.zeros_(self.refine[2].bias)

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        extra = self.noise_input(x, noise)
        h = self.body(x, extra)
        bfloat16 = torch.is_autocast_enabled(x.device.type)
        with torch.autocast(x.device.type, enabled=False):
            out = self.head_output(h, layout_of(x))
            return self.refined(x, out, extra, bfloat16)

    def refined(self, x, out, extra, bfloat16: bool) -> torch.Tensor:
        stage_input = torch.cat([x.float(), out, *(e.float() for e in extra)], dim=1)
        # a small correction: bfloat16's 8 significant bits of it are far below a DN
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            correction = self.refine(stage_input)
        return out + correction.float()

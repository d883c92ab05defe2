"""The SID U-Net (Chen et al. 2018) and its narrower or folded variants (sid, small, fast)."""

from __future__ import annotations

import torch

from .blocks import UNetBody, layout_of


class UNet(UNetBody):
    """Dark packed raw (x ratio) in, clean packed raw out. With ``unshuffle`` 2 it first folds
    each 2x2 block into channels, so its widest layers run on a quarter of the pixels. (Predicting
    a correction to the input instead collapsed to the identity under L1 at these noise levels.)"""

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        """`noise` is accepted for a common signature and unused."""
        h = self.body(x, [])
        with torch.autocast(x.device.type, enabled=False):
            return self.head_output(h, layout_of(x))

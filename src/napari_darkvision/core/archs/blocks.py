"""What the networks share: the U-Net body (fold, encoder, decoder with skips, head, unfold),
its memory layout, and the local energy the detail stages measure."""

from __future__ import annotations

import torch
from torch import nn

from ..noise import noise_level_map
from . import NETWORKS, Architecture


def memory_format(device: torch.device | str) -> torch.memory_format:
    """The layout the network runs fastest in on `device`: channels-last on CPUs (oneDNN's fast
    path), the default elsewhere. Weights and inputs on a CPU are both put in it."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def layout_of(x: torch.Tensor) -> torch.memory_format:
    return memory_format(x.device)


def box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over each pixel's size x size neighbourhood inside the image: avg_pool2d(x, size, 1,
    size // 2, count_include_pad=False), as a depthwise convolution: oneDNN runs it 4-5 times
    faster on a channels-last tensor of several channels (not on a single channel)."""
    channels, (h, w) = x.shape[1], x.shape[-2:]
    kernel = x.new_ones(channels, 1, size, size)
    sums = nn.functional.conv2d(x, kernel, padding=size // 2, groups=channels)

    def counts(n: int) -> torch.Tensor:
        inside = nn.functional.pad(x.new_ones(1, 1, n), (size // 2, size // 2))
        return nn.functional.conv1d(inside, x.new_ones(1, 1, size))[0, 0]

    return sums / (counts(h)[:, None] * counts(w)[None, :])


def conv3(cin: int, cout: int) -> nn.Module:
    return nn.Conv2d(cin, cout, 3, padding=1)


class UNetBody(nn.Module):
    """A U-Net on the packed image (4 channels, plus the noise map where the architecture takes
    it): the base of every network here. Subclasses choose the 3x3 convolution (``conv``) and how
    a skip joins the upsampled features (``additive_skips``), and add their output stages."""

    conv = staticmethod(conv3)
    additive_skips = False

    def __init__(self, config: Architecture):
        super().__init__()
        own = next(c.__name__ for c in type(self).__mro__ if c.__name__ in NETWORKS)
        if config.network != own:
            raise ValueError(f"{config.name} is a {config.network}, not a {own}")
        self.config = config
        s = config.unshuffle
        widths = [config.base_channels * 2**i for i in range(config.depth)]
        self.fold = nn.PixelUnshuffle(s) if s > 1 else nn.Identity()
        self.unfold = nn.PixelShuffle(s) if s > 1 else nn.Identity()
        self.down = nn.ModuleList()
        cin = (4 + (1 if config.noise_map else 0)) * s * s
        for width in widths:
            self.down.append(self._block(cin, width))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.merge.append(self._block(width if self.additive_skips else 2 * width, width))
            cin = width
        self.head = nn.Conv2d(cin, 4 * s * s, 1)
        self.pool = nn.MaxPool2d(2)

    def _block(self, cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            self.conv(cin, cout),
            nn.LeakyReLU(0.2, inplace=True),
            self.conv(cout, cout),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def noise_input(self, x: torch.Tensor, noise) -> list[torch.Tensor]:
        """The inputs beside the image: the noise level map for the networks that take it."""
        if not self.config.noise_map:
            return []
        with torch.autocast(x.device.type, enabled=False):
            # .to, not .contiguous: a single channel must carry channels-last strides too
            return [noise_level_map(x, noise).to(x.dtype, memory_format=layout_of(x))]

    def body(self, x: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
        """The decoder's last features (new inputs go after the old ones, so that smaller
        variants' weights load)."""
        h = self.fold(torch.cat([x, *extra], dim=1))
        skips = []
        for i, block in enumerate(self.down):
            if i:
                h = self.pool(h)
            h = block(h)
            skips.append(h)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            if self.additive_skips:
                h = merge(up(h).add_(skips.pop()))
            else:
                h = merge(torch.cat([up(h), skips.pop()], dim=1))
        return h

    def head_output(self, h: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
        """The packed image from the decoder's features, in float32 (call it with autocast off):
        8 significant bits would band smooth gradients, and at these few channels float32 costs
        little. Every full-resolution tensor in one layout: converting the concatenated inputs
        of a stage cost a fifth of the network's time on a CPU."""
        return self.unfold(self.head(h.float())).contiguous(memory_format=layout)

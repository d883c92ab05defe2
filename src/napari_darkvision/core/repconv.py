"""Re-parameterisable convolutions (RepVGG, Ding et al., CVPR 2021): trained as several branches,
folded into one 3x3 convolution for inference."""

from __future__ import annotations

import copy

import torch
from torch import nn


class RepConv(nn.Module):
    """A 3x3 convolution trained as the sum of a 3x3, a 1x1 and (where the shapes allow) the
    identity; :meth:`fold` turns it into the single 3x3 convolution it is equal to (RepVGG,
    Ding et al., CVPR 2021): more to learn with while training, nothing more to compute after."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv3 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.identity = cin == cout
        nn.init.zeros_(self.conv1.weight)  # starts as the plain 3x3 convolution plus identity
        nn.init.zeros_(self.conv1.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(x) + self.conv1(x)
        return out + x if self.identity else out

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        conv = nn.Conv2d(self.conv3.in_channels, self.conv3.out_channels, 3, padding=1)
        weight = self.conv3.weight.clone()
        weight[:, :, 1, 1] += self.conv1.weight[:, :, 0, 0]
        if self.identity:
            weight[:, :, 1, 1] += torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device)
        conv.weight.copy_(weight)
        conv.bias.copy_(self.conv3.bias + self.conv1.bias)
        return conv.to(self.conv3.weight.device)


def reparameterise(model: nn.Module) -> nn.Module:
    """The inference form of a trained `model` of any architecture: a copy in which every
    :class:`RepConv` is its single 3x3 convolution (the same output to float32 precision). The
    trained model is left as it is, so its state dict still saves and loads in training form."""
    inference = copy.deepcopy(model)
    _fold_in_place(inference)
    return inference


def _fold_in_place(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, RepConv):
            setattr(module, name, child.fold())
        else:
            _fold_in_place(child)

"""The network: a SID-style U-Net mapping a dark packed raw (x ratio) to the clean packed raw.

Both the SID reference (Chen et al. 2018: 5 levels, 32...512 channels, LeakyReLU 0.2) and our
faster variant are instances of :class:`UNet`; they differ only in the numbers of the config.
The fast variant first folds each 2x2 block of the packed image into channels (pixel unshuffle),
so its widest layers run on a quarter of the pixels. (Predicting a correction to the input
instead collapsed to the identity under L1 at these noise levels, so both predict the image.)
Weights are stored as safetensors with the config in the file's metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from importlib import resources

import torch
from torch import nn

#: Shipped with the package; trained by ``napari-darkvision train`` (see weights/MODEL_CARD.md).
DEFAULT_WEIGHTS = "darkvision.safetensors"


@dataclass(frozen=True)
class ModelConfig:
    base_channels: int = 32
    depth: int = 5
    unshuffle: int = 1  # fold s x s blocks of the packed image into channels first
    residual: bool = False  # predict a correction to the (amplified) input
    refine: int = 0  # channels of a final stage at packed resolution that sees the input (0: none)
    name: str = "sid-reference"
    version: str = "0"

    @property
    def multiple(self) -> int:
        """Tile sides (in packed pixels) must be multiples of this."""
        return self.unshuffle * 2 ** (self.depth - 1)


SID_REFERENCE = ModelConfig()
FAST = ModelConfig(
    base_channels=24, depth=4, unshuffle=2, residual=False, name="darkvision-fast", version="1"
)
#: FAST plus a small stage at packed resolution, for fine texture (weights load from FAST's).
FAST_DETAIL = ModelConfig(
    base_channels=24, depth=4, unshuffle=2, refine=16, name="darkvision-fast-detail", version="2"
)
#: The SID U-Net at 3/8 of its width: every level keeps its resolution, so fine texture has a
#: path at packed resolution (the 2x2 fold of FAST blurred it); as fast as FAST_DETAIL in bf16.
SMALL = ModelConfig(base_channels=12, depth=5, name="darkvision-small", version="3")
ARCHITECTURES = {"sid": SID_REFERENCE, "fast": FAST, "fast-detail": FAST_DETAIL, "small": SMALL}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, config: ModelConfig = SID_REFERENCE):
        super().__init__()
        self.config = config
        s = config.unshuffle
        widths = [config.base_channels * 2**i for i in range(config.depth)]
        self.fold = nn.PixelUnshuffle(s) if s > 1 else nn.Identity()
        self.unfold = nn.PixelShuffle(s) if s > 1 else nn.Identity()
        self.down = nn.ModuleList()
        cin = 4 * s * s
        for width in widths:
            self.down.append(_block(cin, width))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.merge.append(_block(2 * width, width))
            cin = width
        self.head = nn.Conv2d(cin, 4 * s * s, 1)
        self.pool = nn.MaxPool2d(2)
        self.refine = None
        if config.refine:
            # Fine texture survives the fold into s x s blocks only through the head's few
            # channels; this stage puts it back from the input where the noise allows. Its last
            # layer starts at zero, so training starts from the network without it.
            self.refine = nn.Sequential(
                nn.Conv2d(8, config.refine, 3, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(config.refine, 4, 3, padding=1),
            )
            nn.init.zeros_(self.refine[2].weight)
            nn.init.zeros_(self.refine[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fold(x)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                h = self.pool(h)
            h = block(h)
            skips.append(h)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            h = merge(torch.cat([up(h), skips.pop()], dim=1))
        # The output stage runs in float32 even under bfloat16 autocast: 8 significant bits would
        # band smooth gradients, and at these few channels float32 costs little.
        with torch.autocast(x.device.type, enabled=False):
            out = self.unfold(self.head(h.float()))
            if self.refine is not None:
                out = out + self.refine(torch.cat([x.float(), out], dim=1))
        return x + out if self.config.residual else out


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def choose_device(preference: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; or what the user asked for."""
    if preference and preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def save_weights(model: UNet, path: str | os.PathLike, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"config": json.dumps(asdict(model.config))}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata=meta)


def default_weights_path() -> str:
    return str(resources.files("napari_darkvision") / "weights" / DEFAULT_WEIGHTS)


def load_model(weights: str | os.PathLike | None = None, device: str | None = None) -> UNet:
    """Build the network described in a safetensors file and load its weights (offline).

    With no path, the model shipped inside the package.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = os.fspath(weights) if weights else default_weights_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model weights at {path}")
    with safe_open(path, framework="pt") as handle:
        meta = handle.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path} is not a napari-darkvision model (no config in its metadata)")
    config = ModelConfig(**json.loads(meta["config"]))
    model = UNet(config)
    model.load_state_dict(load_file(path))
    model.eval()
    target = choose_device(device)
    model.to(target)
    if target.type == "cpu":
        model.to(memory_format=torch.channels_last)
    model.weights_path = path
    model.weights_meta = meta
    return model

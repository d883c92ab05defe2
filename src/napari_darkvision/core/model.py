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
from dataclasses import asdict
from importlib import resources

import torch
from torch import nn

from .architectures import (  # re-exported: the network's numbers, by name
    ARCHITECTURES,
    FAST,
    FAST_AWARE,
    FAST_DETAIL,
    FAST_REP,
    SID_REFERENCE,
    SMALL,
    ModelConfig,
)
from .noise import _log_scale, estimate_noise, noise_level_map
from .repconv import RepConv, fold_reparameterised

__all__ = [  # the re-exported names too: the network's numbers and its noise input, where they were
    "ARCHITECTURES",
    "DEFAULT_WEIGHTS",
    "FAST",
    "FAST_AWARE",
    "FAST_DETAIL",
    "FAST_REP",
    "SID_REFERENCE",
    "SMALL",
    "ModelConfig",
    "RepConv",
    "UNet",
    "choose_device",
    "default_weights_path",
    "estimate_noise",
    "fold_reparameterised",
    "load_grown",
    "load_model",
    "memory_format",
    "noise_level_map",
    "parameter_count",
    "save_weights",
]

#: Shipped with the package; trained by ``napari-darkvision train`` (see weights/MODEL_CARD.md).
DEFAULT_WEIGHTS = "darkvision.safetensors"


def _conv3(cin: int, cout: int, rep: bool = False) -> nn.Module:
    return RepConv(cin, cout) if rep else nn.Conv2d(cin, cout, 3, padding=1)


def _block(cin: int, cout: int, rep: bool = False) -> nn.Sequential:
    return nn.Sequential(
        _conv3(cin, cout, rep),
        nn.LeakyReLU(0.2, inplace=True),
        _conv3(cout, cout, rep),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, config: ModelConfig = SID_REFERENCE):
        super().__init__()
        self.config = config
        self._build_body(config)
        self.refine = None
        self.detail = None
        if config.fused_detail:
            self._build_fused_detail(config)
        elif config.refine:
            self._build_refine(config)
        self.gate = None
        if config.detail_gate and not config.fused_detail:
            self._build_gate(config)

    def _build_body(self, config: ModelConfig) -> None:
        """The U-Net itself: fold, encoder, decoder with skips, head, unfold."""
        s = config.unshuffle
        widths = [config.base_channels * 2**i for i in range(config.depth)]
        self.fold = nn.PixelUnshuffle(s) if s > 1 else nn.Identity()
        self.unfold = nn.PixelShuffle(s) if s > 1 else nn.Identity()
        self.down = nn.ModuleList()
        cin = (4 + (1 if config.noise_map else 0)) * s * s
        for width in widths:
            self.down.append(_block(cin, width, config.rep))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.merge.append(_block(width if config.additive_skips else 2 * width, width, config.rep))
            cin = width
        self.head = nn.Conv2d(cin, 4 * s * s, 1)
        self.pool = nn.MaxPool2d(2)

    def _build_fused_detail(self, config: ModelConfig) -> None:
        if not (config.noise_map and config.detail_gate and config.refine):
            raise ValueError("fused_detail needs noise_map, detail_gate and refine")
        # One stage for what refine and gate do apart: from the input, the estimate, the
        # noise level and the residual's energy above it, a correction (starts at zero) and
        # the gate's logits (start nearly closed).
        self.detail = nn.Sequential(
            nn.Conv2d(13, config.refine, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )
        self.detail_correction = nn.Conv2d(config.refine, 4, 3, padding=1)
        self.detail_gate = nn.Conv2d(config.refine, 4, 3, padding=1)
        nn.init.zeros_(self.detail_correction.weight)
        nn.init.zeros_(self.detail_correction.bias)
        nn.init.zeros_(self.detail_gate.weight)
        nn.init.constant_(self.detail_gate.bias, -4.0)

    def _build_refine(self, config: ModelConfig) -> None:
        # Fine texture survives the fold into s x s blocks only through the head's few
        # channels; this stage puts it back from the input where the noise allows. Its last
        # layer starts at zero, so training starts from the network without it.
        self.refine = nn.Sequential(
            nn.Conv2d(8 + (1 if config.noise_map else 0), config.refine, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(config.refine, 4, 3, padding=1),
        )
        nn.init.zeros_(self.refine[2].weight)
        nn.init.zeros_(self.refine[2].bias)

    def _build_gate(self, config: ModelConfig) -> None:
        if not config.noise_map:
            raise ValueError("detail_gate needs noise_map")
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

    def forward(
        self, x: torch.Tensor, noise: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """`noise`: the input's (a, b) from :func:`estimate_noise` of the whole image, when `x`
        is a tile of it; estimated from `x` if not given (only used by noise_map models)."""
        extra = []  # new inputs go after the old ones, so that smaller variants' weights load
        if self.config.noise_map:
            with torch.autocast(x.device.type, enabled=False):
                # .to, not .contiguous: a single channel must carry channels-last strides too
                extra.append(noise_level_map(x, noise).to(x.dtype, memory_format=_layout(x)))
        h = self.fold(torch.cat([x, *extra], dim=1))
        skips = []
        for i, block in enumerate(self.down):
            if i:
                h = self.pool(h)
            h = block(h)
            skips.append(h)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            if self.config.additive_skips:
                h = merge(up(h).add_(skips.pop()))
            else:
                h = merge(torch.cat([up(h), skips.pop()], dim=1))
        # The output stage runs in float32 even under bfloat16 autocast: 8 significant bits would
        # band smooth gradients, and at these few channels float32 costs little.
        bfloat16 = torch.is_autocast_enabled(x.device.type)
        layout = _layout(x)
        with torch.autocast(x.device.type, enabled=False):
            # every tensor of the full-resolution stages in one layout: converting their
            # concatenated inputs cost a fifth of the network's time on a CPU
            out = self.unfold(self.head(h.float())).contiguous(memory_format=layout)
            if self.detail is not None:
                return out + self._fused_detail(x.float(), out, extra[0].float(), bfloat16, layout)
            if self.refine is not None:
                stage_input = torch.cat([x.float(), out, *(e.float() for e in extra)], dim=1)
                # a small correction: bfloat16's 8 significant bits of it are far below a DN
                with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
                    correction = self.refine(stage_input)
                out = out + correction.float()
            if self.gate is not None:
                out = out + self._gated_detail(x.float(), out, extra[0].float(), bfloat16, layout)
        return x + out if self.config.residual else out

    def _gated_detail(
        self,
        x: torch.Tensor,
        out: torch.Tensor,
        noise_map: torch.Tensor,
        bfloat16: bool = False,
        layout=torch.contiguous_format,
    ) -> torch.Tensor:
        residual = x - out
        energy = _box_mean(residual * residual, 3)
        above_noise = _log_scale(energy) - noise_map
        features = torch.cat([above_noise, noise_map, out], dim=1).contiguous(memory_format=layout)
        # the gate's own layers may run in bfloat16: it only weighs, the residual stays float32
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            logits = self.gate(features)
        return torch.sigmoid(logits.float()) * residual

    def _fused_detail(
        self,
        x: torch.Tensor,
        out: torch.Tensor,
        noise_map: torch.Tensor,
        bfloat16: bool,
        layout: torch.memory_format,
    ) -> torch.Tensor:
        residual = x - out
        above_noise = _log_scale(_box_mean(residual * residual, 3)) - noise_map
        features = torch.cat([x, out, noise_map, above_noise], dim=1).contiguous(memory_format=layout)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            hidden = self.detail(features)
            correction, logits = self.detail_correction(hidden), self.detail_gate(hidden)
        # two heads, not one of 8 channels split in two: slices of a channels-last tensor are slow
        return torch.addcmul(correction.float(), torch.sigmoid(logits.float()), residual)


def memory_format(device: torch.device | str) -> torch.memory_format:
    """The layout the network runs fastest in on `device`: channels-last on CPUs (oneDNN's fast
    path), the default elsewhere. Weights and inputs on a CPU are both put in it."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def _layout(x: torch.Tensor) -> torch.memory_format:
    return memory_format(x.device)


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
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


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def choose_device(preference: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; or what the user asked for, if it is present
    (:class:`~.errors.DeviceError` otherwise)."""
    from .errors import DeviceError
    from .parameters import check_device

    preference = check_device(preference)
    if preference and preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(
                "CUDA was asked for, but this torch has no CUDA or sees no NVIDIA GPU: use --device cpu."
            )
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise DeviceError(
                f"There is no {preference}: this machine has {torch.cuda.device_count()} CUDA device(s)."
            )
        mps = getattr(torch.backends, "mps", None)
        if device.type == "mps" and not (mps and mps.is_available()):
            raise DeviceError("Apple MPS was asked for, but it is not available here: use --device cpu.")
        return device
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


def load_grown(model: UNet, state: dict) -> None:
    """Load weights of a smaller variant: layers the model has grown (more input channels, a
    new stage) start at zero where the state has nothing, so the model computes what the
    smaller one did. PixelUnshuffle puts a new input channel's folded copies after the old ones."""
    own = model.state_dict()
    unknown = set(state) - set(own)
    if unknown:
        raise ValueError(f"weights do not fit {model.config.name}: unexpected {sorted(unknown)[:3]}")
    for key, value in state.items():
        target = own[key]
        if value.shape == target.shape:
            target.copy_(value)
        elif (
            value.dim() == target.dim() == 4
            and value.shape[0] == target.shape[0]
            and value.shape[2:] == target.shape[2:]
        ):
            target.zero_()
            target[:, : value.shape[1]].copy_(value)
        else:
            raise ValueError(f"weights do not fit {model.config.name}: {key} {tuple(value.shape)}")
    missing = set(own) - set(state)
    if any(not key.startswith(("refine.", "gate.", "detail")) for key in missing):
        raise ValueError(f"weights do not fit {model.config.name}: missing {sorted(missing)[:3]}")


def load_model(weights: str | os.PathLike | None = None, device: str | None = None) -> UNet:
    """Build the network described in a safetensors file and load its weights (offline).

    Parameters
    ----------
    weights
        A ``.safetensors`` file written by ``napari-darkvision train``; None for the model
        shipped inside the package.
    device
        "cpu", "cuda", "cuda:N", "mps", or None/"auto" for the fastest present.

    Raises
    ------
    ModelError
        The file is missing, damaged, not a napari-darkvision model, of an architecture its
        config does not describe, or holds non-finite weights.
    DeviceError
        The device is unknown or not present.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .errors import MissingWeightsError, ModelError

    path = os.fspath(weights) if weights else default_weights_path()
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise MissingWeightsError(f"No model weights at {path}.")
    target = choose_device(device)
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(
            f"{name} is not a readable .safetensors weights file (damaged or truncated?): {err}"
        ) from None
    if "config" not in meta:
        raise ModelError(f"{name} is not a napari-darkvision model (no config in its metadata).")
    try:
        config = ModelConfig(**json.loads(meta["config"]))
        model = UNet(config)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0][:200]
        raise ModelError(f"{name} does not describe a network this version can build: {first}") from None
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise ModelError(f"{name} holds weights that are not finite (NaN or infinity): the file is damaged.")
    fold_reparameterised(model)
    model.eval()
    model.to(target, memory_format=memory_format(target))
    model.weights_path = path
    model.weights_meta = meta
    return model

"""Networks as files: building one from a weights file's metadata, loading its weights (folded
for inference), saving them, and choosing the device. The networks themselves are in
:mod:`.archs`, one class per architecture.

A weights file is safetensors; its metadata's ``architecture`` (JSON of an
:class:`~.archs.Architecture`) names the network's class and numbers. Files written before
:mod:`.archs` carry a ``config`` of switches instead (:func:`~.archs.from_legacy_config`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import torch
from torch import nn

from .archs import ARCHITECTURES, Architecture, build_network, from_legacy_config
from .archs.blocks import memory_format
from .bundled import weights_file
from .noise import estimate_noise, noise_level_map
from .repconv import RepConv, reparameterise

__all__ = [  # the re-exported names too: the networks and their noise input, where they were
    "ARCHITECTURES",
    "Architecture",
    "RepConv",
    "architecture_of",
    "build_network",
    "choose_device",
    "estimate_noise",
    "load_grown",
    "load_model",
    "memory_format",
    "noise_level_map",
    "parameter_count",
    "reparameterise",
    "save_weights",
]


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


def save_weights(model: nn.Module, path: str | os.PathLike, extra: dict | None = None) -> None:
    """The weights of a network of :mod:`.archs` (in training form, before :func:`reparameterise`),
    with its architecture, class included, in the metadata."""
    from safetensors.torch import save_file

    meta = {"architecture": json.dumps(asdict(model.config))}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata=meta)


def architecture_of(meta: dict) -> Architecture:
    """The architecture a weights file's metadata describes (ValueError or TypeError where it
    describes none this version can build)."""
    if "architecture" in meta:
        return Architecture.from_dict(json.loads(meta["architecture"]))
    return from_legacy_config(json.loads(meta["config"]))


def load_grown(model: nn.Module, state: dict) -> None:
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


def load_model(weights: str | os.PathLike | None = None, device: str | None = None) -> nn.Module:
    """Build the network described in a safetensors file, load its weights and fold it for
    inference (:func:`reparameterise`); offline.

    Parameters
    ----------
    weights
        The name of a shipped model (:data:`~.bundled.SHIPPED_MODELS`: "release-5", "fast-rep"),
        a ``.safetensors`` file written by ``napari-darkvision train``, or None for the default
        model (:data:`~.bundled.DEFAULT_MODEL`).
    device
        "cpu", "cuda", "cuda:N", "mps", or None/"auto" for the fastest present.

    Raises
    ------
    MissingWeightsError
        No such file, nor a shipped model of that name.
    ModelError
        The file is damaged, not a napari-darkvision model, of an architecture its metadata does
        not describe, or holds non-finite weights.
    DeviceError
        The device is unknown or not present.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .errors import ModelError

    path = weights_file(weights)
    name = os.path.basename(path)
    target = choose_device(device)
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(
            f"{name} is not a readable .safetensors weights file (damaged or truncated?): {err}"
        ) from None
    if "architecture" not in meta and "config" not in meta:
        raise ModelError(f"{name} is not a napari-darkvision model (no architecture in its metadata).")
    try:
        model = build_network(architecture_of(meta))
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0][:200]
        raise ModelError(f"{name} does not describe a network this version can build: {first}") from None
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise ModelError(f"{name} holds weights that are not finite (NaN or infinity): the file is damaged.")
    model = reparameterise(model).eval()
    model.to(target, memory_format=memory_format(target))
    model.weights_path = path
    model.weights_meta = meta
    return model

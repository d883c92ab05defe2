"""The networks' outputs on a fixed input, kept so that a rewrite of the network code can be
checked against the code that trained the shipped weights (tests/test_archs.py reads them).

    python research/experiments/arch_equivalence.py --write   # once, with the old code
    python research/experiments/arch_equivalence.py           # later: max difference, bit-identical?

Cases: each architecture with deterministic weights (filled by parameter name, so the result
does not depend on the order the layers are built in), in training form; the shipped weights
and the release 6 candidate's, loaded as the package loads them (folded, channels-last), in
float32 and under bfloat16 autocast, with the noise estimated from the tile and given.
"""

from __future__ import annotations

import argparse
import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "arch_equivalence.npz"
ARCHS = ("sid", "fast", "fast-detail", "small", "fast-aware", "fast-rep")
WEIGHTS = ROOT / "src" / "napari_darkvision" / "weights"
CHECKPOINTS = [ROOT / "training_state" / "v6-fast-rep", ROOT / "research" / "checkpoints" / "v6-fast-rep"]
#: The weights whose outputs are kept, where each may be (the first found is used): the release 6
#: candidate's final weights are shipped as weights/fast-rep.safetensors (the same tensors).
TRAINED = {
    "release-5": [WEIGHTS / "darkvision.safetensors"],
    "v6-best": [folder / "best.safetensors" for folder in CHECKPOINTS],
    "v6-final": [folder / "final.safetensors" for folder in CHECKPOINTS] + [WEIGHTS / "fast-rep.safetensors"],
}


def fixed_input(side: int) -> torch.Tensor:
    """A packed dark image: smooth gradients, an edge and Poisson-Gaussian-like noise."""
    g = torch.Generator().manual_seed(side)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    clean = 0.05 + 0.4 * xx * yy + 0.2 * (xx > 0.5)
    clean = torch.stack([clean * k for k in (0.8, 1.0, 1.0, 0.6)])[None]
    noise = torch.randn(clean.shape, generator=g) * (0.002 + 0.05 * clean).sqrt() * 0.1
    return (clean + noise).float()


def deterministic_fill(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            scale = 0.3 / max(1, tensor[0].numel()) ** 0.5 if tensor.dim() > 1 else 0.02
            tensor.copy_(torch.randn(tensor.shape, generator=g) * scale)


def build(arch: str) -> torch.nn.Module:
    try:
        from napari_darkvision.core.archs import build_network
    except ImportError:  # the code before core/archs
        from napari_darkvision.core.model import ARCHITECTURES, UNet

        return UNet(ARCHITECTURES[arch])
    return build_network(arch)


def outputs() -> dict[str, np.ndarray]:
    from napari_darkvision.core.model import load_model
    from napari_darkvision.core.noise import estimate_noise

    results = {}
    x16 = fixed_input(16)
    for arch in ARCHS:
        model = build(arch).eval()
        deterministic_fill(model)
        with torch.no_grad():
            results[f"arch/{arch}"] = model(x16).numpy()
    x = fixed_input(32)
    noise = estimate_noise(fixed_input(64))
    for name, candidates in TRAINED.items():
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            continue
        model = load_model(path, device="cpu")
        xl = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            results[f"trained/{name}/float32"] = model(xl).numpy()
            results[f"trained/{name}/float32-noise-given"] = model(xl, noise).numpy()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                results[f"trained/{name}/bfloat16"] = model(xl).float().numpy()
    return results


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="write the fixture (with the old code)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = outputs()
    if args.write:
        inputs = {"input/16": fixed_input(16).numpy(), "input/32": fixed_input(32).numpy()}
        np.savez_compressed(FIXTURE, **inputs, **results)
        for key, value in results.items():
            print(f"{key:40s} {digest(value)}")
        print(f"wrote {FIXTURE.relative_to(ROOT)}")
        return
    stored = np.load(FIXTURE)
    for key, value in results.items():
        old = stored[key]
        same = digest(old) == digest(value)
        print(f"{key:40s} max |new - old| {np.abs(value - old).max():.3g}  bit-identical {same}")


if __name__ == "__main__":
    main()

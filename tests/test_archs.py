"""One class per architecture, the shipped models by name, and today's weights against the
outputs of the code that trained them (tests/data/arch_equivalence.npz, written by
research/experiments/arch_equivalence.py before core/archs existed)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_darkvision.core import bundled
from napari_darkvision.core.archs import ARCHITECTURES, Architecture, build_network, from_legacy_config
from napari_darkvision.core.errors import MissingWeightsError
from napari_darkvision.core.model import estimate_noise, load_model, reparameterise, save_weights
from napari_darkvision.core.repconv import RepConv

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = np.load(ROOT / "tests" / "data" / "arch_equivalence.npz")
_spec = importlib.util.spec_from_file_location(
    "arch_equivalence", ROOT / "research" / "experiments" / "arch_equivalence.py"
)
equivalence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(equivalence)

#: float32 outputs agree to float rounding across CPUs (bit for bit on the machine that wrote
#: the fixture); bfloat16 autocast is held to the width of bfloat16's rounding of values near 1.
FLOAT32_TOLERANCE = 1e-5
BFLOAT16_TOLERANCE = 8e-3


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_each_architecture_computes_what_the_old_network_did(arch):
    model = build_network(arch).eval()
    equivalence.deterministic_fill(model)
    with torch.no_grad():
        out = model(torch.from_numpy(FIXTURE["input/16"])).numpy()
    old = FIXTURE[f"arch/{arch}"]
    assert old.std() > 1e-3  # filled weights, not the zero start of a stage
    np.testing.assert_allclose(out, old, rtol=0, atol=FLOAT32_TOLERANCE)


def _trained_cases():
    yield "release-5", "release-5"
    yield "v6-final", "fast-rep"  # weights/fast-rep.safetensors holds the candidate's final tensors
    best = next((p for p in equivalence.TRAINED["v6-best"] if p.is_file()), None)
    if best is not None:
        yield "v6-best", str(best)


@pytest.mark.parametrize("key, weights", list(_trained_cases()), ids=lambda v: str(v).split("/")[-1])
def test_todays_weights_give_the_old_outputs(key, weights):
    model = load_model(weights, device="cpu")
    x = torch.from_numpy(FIXTURE["input/32"]).contiguous(memory_format=torch.channels_last)
    noise = estimate_noise(equivalence.fixed_input(64))
    with torch.no_grad():
        np.testing.assert_allclose(
            model(x).numpy(), FIXTURE[f"trained/{key}/float32"], atol=FLOAT32_TOLERANCE
        )
        given = model(x, noise).numpy()
        np.testing.assert_allclose(
            given, FIXTURE[f"trained/{key}/float32-noise-given"], atol=FLOAT32_TOLERANCE
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(x).float().numpy()
    np.testing.assert_allclose(half, FIXTURE[f"trained/{key}/bfloat16"], atol=BFLOAT16_TOLERANCE)
    assert np.abs(FIXTURE[f"trained/{key}/float32"] - FIXTURE["input/32"]).mean() > 1e-4  # not the input


def test_the_fixture_tells_networks_apart():
    """The comparison can fail: two architectures' outputs differ far beyond the tolerance."""
    assert np.abs(FIXTURE["arch/fast-aware"] - FIXTURE["arch/fast-rep"]).max() > 100 * FLOAT32_TOLERANCE
    assert np.abs(FIXTURE["trained/v6-final/float32"] - FIXTURE["trained/release-5/float32"]).max() > 1e-3


def test_one_class_per_architecture_and_no_switches():
    classes = {name: type(build_network(name)).__name__ for name in ARCHITECTURES}
    assert classes == {name: arch.network for name, arch in ARCHITECTURES.items()}
    assert set(classes.values()) == {"UNet", "DetailUNet", "NoiseAwareUNet", "FastRepUNet"}
    with pytest.raises(ValueError, match="not a"):
        build_network(ARCHITECTURES["fast"]).__class__(ARCHITECTURES["fast-aware"])
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("no-such")


def test_legacy_configs_map_to_their_class_and_residual_is_refused():
    meta = {"base_channels": 24, "depth": 4, "unshuffle": 2, "residual": False, "refine": 16}
    aware = meta | {"noise_map": True, "detail_gate": True, "name": "darkvision-fast-aware", "version": "4"}
    assert from_legacy_config(aware) == ARCHITECTURES["fast-aware"]
    with pytest.raises(ValueError, match="residual"):
        from_legacy_config(aware | {"residual": True})
    with pytest.raises(ValueError, match="combination"):
        from_legacy_config(meta | {"detail_gate": True})


def test_saved_weights_name_their_class_and_load_back(tmp_path):
    from safetensors import safe_open

    torch.manual_seed(0)
    model = build_network("fast-rep").eval()
    save_weights(model, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as handle:
        meta = json.loads(handle.metadata()["architecture"])
    assert meta["network"] == "FastRepUNet"
    loaded = load_model(tmp_path / "m.safetensors", device="cpu")
    assert loaded.config == ARCHITECTURES["fast-rep"]
    assert not any(isinstance(m, RepConv) for m in loaded.modules())


def test_reparameterise_applies_to_any_network_with_rep_convolutions():
    torch.manual_seed(1)
    net = torch.nn.Sequential(RepConv(4, 4), torch.nn.ReLU(), torch.nn.Sequential(RepConv(4, 8)))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        x = torch.rand(1, 4, 16, 16)
        fused = reparameterise(net)
        np.testing.assert_allclose(fused(x).numpy(), net(x).numpy(), atol=1e-5)
    assert [type(m).__name__ for m in fused.modules()].count("Conv2d") == 2
    assert sum(isinstance(m, RepConv) for m in net.modules()) == 2


def test_every_shipped_model_loads_by_name_and_the_default_is_one_constant():
    assert bundled.DEFAULT_MODEL in bundled.SHIPPED_MODELS
    assert bundled.weights_file(None) == bundled.weights_file(bundled.DEFAULT_MODEL)
    for name, shipped in bundled.SHIPPED_MODELS.items():
        assert shipped.path.is_file() and shipped.description
        assert load_model(name, device="cpu").weights_path == str(shipped.path)
    assert load_model("fast-rep", device="cpu").config.name == "darkvision-fast-rep"
    assert load_model("release-5", device="cpu").config.name == "darkvision-fast-aware"


def test_an_unknown_model_name_lists_the_names():
    with pytest.raises(MissingWeightsError) as caught:
        bundled.weights_file("release-7")
    message = str(caught.value)
    assert "\n" not in message and all(name in message for name in bundled.SHIPPED_MODELS)


def test_architecture_is_plain_data():
    assert (
        Architecture.from_dict(json.loads(json.dumps(ARCHITECTURES["sid"].__dict__))) == ARCHITECTURES["sid"]
    )
    with pytest.raises(ValueError, match="unknown architecture fields"):
        Architecture.from_dict({**ARCHITECTURES["sid"].__dict__, "rep": True})

"""The network definitions, weights files and tiled inference."""

import numpy as np
import pytest
import torch

from napari_darkvision.core.model import (
    FAST,
    SID_REFERENCE,
    SMALL,
    UNet,
    load_model,
    parameter_count,
    save_weights,
)
from napari_darkvision.core.pipeline import run_to_end
from napari_darkvision.core.tiling import run_tiled, tile_starts


def test_sid_reference_has_the_published_size():
    assert parameter_count(UNet(SID_REFERENCE)) == pytest.approx(7.76e6, rel=0.005)


@pytest.mark.parametrize("config", [SID_REFERENCE, FAST, SMALL], ids=["sid", "fast", "small"])
def test_output_has_the_input_shape(config):
    x = torch.rand(1, 4, 2 * config.multiple, 3 * config.multiple)
    assert UNet(config)(x).shape == x.shape


def test_weights_round_trip_with_config(tmp_path):
    torch.manual_seed(0)
    model = UNet(FAST)
    save_weights(model, tmp_path / "m.safetensors", {"step": 3})
    loaded = load_model(tmp_path / "m.safetensors", device="cpu")
    assert loaded.config == FAST
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)


def test_missing_or_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a napari-darkvision model"):
        load_model(tmp_path / "other.safetensors")


def test_tiles_cover_everything_with_overlap():
    for length in (1, 100, 512, 513, 2000):
        starts = tile_starts(length, 256, 32)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + 256] = True
        assert covered.all()
        assert all(b - a <= 256 - 32 for a, b in zip(starts, starts[1:], strict=False))


def test_tiled_equals_untiled_with_the_shipped_model():
    model = load_model(device="cpu")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:420] / 40.0
    scene = (0.3 + 0.2 * np.sin(yy) * np.cos(xx)).astype(np.float32)
    packed = np.clip(scene[None] + rng.normal(0, 0.05, (4, 300, 420)), -0.05, 1).astype(np.float32)
    whole = run_to_end(run_tiled(model, packed, tile=2048))
    steps = list(run_tiled(model, packed, tile=160, overlap=32))
    assert steps[-1] == (len(steps), len(steps)) and len(steps) >= 4
    tiled = run_to_end(run_tiled(model, packed, tile=160, overlap=32))
    assert tiled.shape == packed.shape
    diff = np.abs(tiled - whole)
    assert diff.mean() < 2e-3 and np.percentile(diff, 99.9) < 0.06
    # no seam: inside the image (its border is padded differently in the two runs), columns
    # where tiles meet differ from the whole-image result no more than others
    seams = np.abs(np.diff(tiled - whole, axis=2)).mean(axis=(0, 1))[16:-16]
    assert seams.max() < 5 * seams.mean() + 1e-3


def test_closing_the_generator_stops_between_tiles():
    model = load_model(device="cpu")
    calls = []
    original = model.forward

    def counting(x):
        calls.append(1)
        return original(x)

    model.forward = counting
    steps = run_tiled(model, np.zeros((4, 256, 256), np.float32), tile=64, overlap=16)
    next(steps)
    steps.close()
    assert len(calls) == 1

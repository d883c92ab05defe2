"""The network definitions, weights files and tiled inference."""

import numpy as np
import pytest
import torch

from napari_darkvision.core.archs import (
    ARCHITECTURES,
    FAST,
    FAST_AWARE,
    FAST_DETAIL,
    SID_REFERENCE,
    build_network,
)
from napari_darkvision.core.model import (
    RepConv,
    estimate_noise,
    load_grown,
    load_model,
    parameter_count,
    reparameterise,
    save_weights,
)
from napari_darkvision.core.pipeline import run_to_end
from napari_darkvision.core.tiling import run_tiled, tile_starts


def test_sid_reference_has_the_published_size():
    assert parameter_count(build_network(SID_REFERENCE)) == pytest.approx(7.76e6, rel=0.005)


@pytest.mark.parametrize("config", list(ARCHITECTURES.values()), ids=list(ARCHITECTURES))
def test_output_has_the_input_shape(config):
    x = torch.rand(1, 4, 2 * config.multiple, 3 * config.multiple)
    assert build_network(config)(x).shape == x.shape


def test_weights_round_trip_with_config(tmp_path):
    torch.manual_seed(0)
    model = build_network(FAST)
    save_weights(model, tmp_path / "m.safetensors", {"step": 3})
    loaded = load_model(tmp_path / "m.safetensors", device="cpu")
    assert loaded.config == FAST
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)


def test_missing_or_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="give a .safetensors file or one of release-5, fast-rep"):
        load_model(tmp_path / "nothing.safetensors")
    with pytest.raises(FileNotFoundError, match="one of release-5, fast-rep"):
        load_model("release-4")
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
    assert (steps[-1].stage, steps[-1].done, steps[-1].total) == ("network", len(steps), len(steps))
    assert len(steps) >= 4
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

    def counting(*args):
        calls.append(1)
        return original(*args)

    model.forward = counting
    steps = run_tiled(model, np.zeros((4, 256, 256), np.float32), tile=64, overlap=16)
    first = next(steps)
    steps.close()
    # tiles run side by side, one per core allowed (core.threads): those started finish, no more
    from napari_darkvision.core.threads import parallel_pieces

    assert 1 <= len(calls) <= parallel_pieces() < first.total


@pytest.mark.parametrize("ratio_gain", [0.2, 2.0])
def test_noise_estimate_finds_the_poisson_gaussian_line(ratio_gain):
    """Shot noise (variance a * signal) and read noise (b), on a smooth scene with an edge."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    scene = 0.05 + 0.4 * xx + 0.2 * (yy > 0.5)
    clean = np.stack([scene * g for g in (0.5, 1.0, 0.7, 1.0)])
    a_true, b_true = 2e-3 * ratio_gain, 1e-4 * ratio_gain**2
    noisy = rng.poisson(clean / a_true) * a_true + rng.normal(0, b_true**0.5, clean.shape)
    a, b = estimate_noise(torch.from_numpy(noisy.astype(np.float32))[None])
    assert a.item() == pytest.approx(a_true, rel=0.15)
    assert b.item() == pytest.approx(b_true, rel=0.5, abs=2e-5)


def test_noise_estimate_of_a_flat_image_is_finite():
    a, b = estimate_noise(torch.zeros(2, 4, 32, 32))
    assert torch.isfinite(a).all() and torch.isfinite(b).all() and (a == 0).all()


def test_a_grown_model_starts_as_the_smaller_one():
    torch.manual_seed(0)
    small, grown = build_network(FAST_DETAIL).eval(), build_network(FAST_AWARE).eval()
    for p in small.refine[2].parameters():  # as if trained: not the zero start
        torch.nn.init.normal_(p, std=0.1)
    with torch.no_grad():
        load_grown(grown, small.state_dict())
        x = torch.rand(1, 4, 64, 64) * 0.3
        before = small(x)
        # the closed detail gate lets 1.8 % of the input's difference through
        assert ((grown(x) - before).abs() <= 0.02 * (x - before).abs() + 1e-6).all()
    with pytest.raises(ValueError, match="do not fit"):
        load_grown(build_network(FAST), build_network(SID_REFERENCE).state_dict())


def test_tiles_share_the_whole_image_noise_level():
    """Every tile of a noise-aware model is given the noise measured on the whole image (a dark
    tile alone would misjudge the shot noise), and the tiled result matches one pass."""
    torch.manual_seed(0)
    model = build_network(FAST_AWARE).eval()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:260] / 30.0
    scene = 0.15 + 0.5 * (xx > 4.3) + 0.1 * np.sin(yy + xx)
    packed = (scene + rng.normal(0, 1, (4, 200, 260)) * np.sqrt(2e-3 * scene + 1e-5)).astype(np.float32)
    given = []
    original = model.forward

    def spying(x, noise=None):
        given.append(noise)
        return original(x, noise)

    model.forward = spying
    whole = run_to_end(run_tiled(model, packed, tile=2048))
    tiled = run_to_end(run_tiled(model, packed, tile=96, overlap=32))
    a, b = estimate_noise(torch.from_numpy(packed)[None])
    assert len(given) > 4
    assert all(torch.allclose(n[0], a) and torch.allclose(n[1], b) for n in given)
    assert np.abs(tiled - whole)[:, 16:-16, 16:-16].mean() < 1e-3


class _CastingNetwork(torch.nn.Module):
    """Returns its input with a colour cast: red x0.9, blue x1.1."""

    config = FAST

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        return x * torch.tensor([0.9, 1.0, 1.1, 1.0]).view(1, 4, 1, 1)


def test_tiled_result_keeps_the_channel_levels_of_the_input():
    rng = np.random.default_rng(1)
    scene = rng.uniform(0.05, 0.6, (4, 96, 128)).astype(np.float32)
    cast = run_to_end(run_tiled(_CastingNetwork(), scene, tile=64, overlap=16, keep_levels=False))
    kept = run_to_end(run_tiled(_CastingNetwork(), scene, tile=64, overlap=16))
    assert abs(cast[0].mean() / scene[0].mean() - 0.9) < 1e-3  # the cast is there without it
    np.testing.assert_allclose(kept.mean(axis=(1, 2)), scene.mean(axis=(1, 2)), rtol=1e-4)
    # a level correction, not a new image: the pattern inside each channel is the network's
    np.testing.assert_allclose(kept[0] / kept[0].mean(), cast[0] / cast[0].mean(), rtol=1e-4)


def test_channel_levels_move_only_within_limits():
    from napari_darkvision.core.tiling import LEVEL_GAIN_LIMITS, keep_channel_levels

    packed = np.full((4, 8, 8), 0.2, np.float32)
    packed[3] = -0.01  # a channel with no signal: its mean is all noise, nothing to match
    result = np.full((4, 8, 8), 0.1, np.float32)
    kept = keep_channel_levels(result.copy(), packed)
    assert np.allclose(kept[:3], 0.1 * LEVEL_GAIN_LIMITS[1])
    assert np.allclose(kept[3], 0.1)


def test_reparameterised_blocks_fold_to_the_same_output():
    torch.manual_seed(3)
    model = build_network(ARCHITECTURES["fast-rep"]).eval()
    with torch.no_grad():  # training-form weights away from their start, branches included
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    x = torch.rand(1, 4, 64, 64) * 0.3
    with torch.inference_mode():
        before = model(x)
        folded = reparameterise(model)
        after = folded(x)
    assert not any(isinstance(m, RepConv) for m in folded.modules())
    assert any(isinstance(m, RepConv) for m in model.modules())  # a transform: the trained one stays
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-4)
    assert (before - x).abs().mean() > 1e-3  # the comparison is not between two copies of the input


def test_cli_names_every_architecture():
    from napari_darkvision.cli import build_parser

    for name in ARCHITECTURES:
        assert build_parser().parse_args(["train", "--out", "x", "--arch", name]).arch == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "x", "--arch", "no-such-network"])

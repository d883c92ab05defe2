"""Weights (core/model.py): unusable files are one-line errors, a non-finite output is an error, a
replaced file is loaded anew."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import ENHANCE, one_line_error
from napari_darkvision import cli


def _weights_cases(folder: Path) -> dict[str, Path]:
    import torch
    from safetensors.torch import save_file

    from napari_darkvision.core.bundled import weights_file
    from napari_darkvision.core.model import ARCHITECTURES, build_network

    shipped = Path(weights_file()).read_bytes()
    cases = {"truncated": shipped[: len(shipped) // 2], "empty": b"", "not safetensors": b"PK\x03\x04 zip"}
    paths = {}
    for name, data in cases.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.safetensors"
        paths[name].write_bytes(data)
    model = build_network("fast")  # a valid model of its own; its weights, labelled as another, are not
    state = {k: v for k, v in model.state_dict().items()}
    save_file(state, str(folder / "relabelled.safetensors"),
              metadata={"architecture": json.dumps(dataclasses.asdict(ARCHITECTURES["fast-aware"]))})  # fmt: skip
    paths["config of another"] = folder / "relabelled.safetensors"
    config = dataclasses.asdict(ARCHITECTURES["fast"]) | {"unknown_key": 1}
    save_file(state, str(folder / "unknown.safetensors"), metadata={"architecture": json.dumps(config)})
    paths["unknown config key"] = folder / "unknown.safetensors"
    nan_state = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()
    }
    save_file(nan_state, str(folder / "nan.safetensors"),
              metadata={"architecture": json.dumps(dataclasses.asdict(ARCHITECTURES["fast"]))})  # fmt: skip
    paths["NaN weights"] = folder / "nan.safetensors"
    return paths


def test_unusable_weights_are_one_line_errors(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    for case, weights in _weights_cases(tmp_path).items():
        code = cli.main(
            [*ENHANCE, str(source), "-o", str(tmp_path / f"{weights.stem}.png"), "--weights", str(weights)]
        )
        assert code == 2, case
        one_line_error(capsys)
        assert not (tmp_path / f"{weights.stem}.png").exists()


def test_non_finite_network_output_is_an_error_not_a_black_image():
    import torch

    from napari_darkvision.core.archs import FAST
    from napari_darkvision.core.archs.unet import UNet
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled

    class Broken(UNet):
        def forward(self, x, noise=None):
            return torch.full_like(x, float("nan"))

    with pytest.raises(dv.ModelError, match="not finite"):
        run_to_end(run_tiled(Broken(FAST), np.full((4, 64, 64), 0.2, np.float32)))


def test_replacing_the_weights_file_loads_the_new_model(tmp_path):
    import torch

    from napari_darkvision.core.model import build_network, save_weights
    from napari_darkvision.core.pipeline import cached_model

    path = tmp_path / "model.safetensors"
    torch.manual_seed(0)
    save_weights(build_network("fast"), path)
    first = cached_model(str(path), "cpu")
    assert cached_model(str(path), "cpu") is first  # unchanged: reused
    torch.manual_seed(1)
    replacement = build_network("fast")
    save_weights(replacement, tmp_path / "new.safetensors")
    time.sleep(0.01)
    os.replace(tmp_path / "new.safetensors", path)
    second = cached_model(str(path), "cpu")
    assert second is not first
    assert torch.equal(second.head.weight, replacement.head.weight)


def test_weights_by_name_on_the_command_line(tmp_path, make_dng, capsys):
    source, _ = make_dng()
    out = tmp_path / "fast.png"
    assert cli.main([*ENHANCE, str(source), "-o", str(out), "--weights", "fast-rep"]) == 0
    assert out.is_file()
    assert cli.main([*ENHANCE, str(source), "-o", str(tmp_path / "o.png"), "--weights", "release-4"]) == 2
    assert "one of release-5, fast-rep" in one_line_error(capsys)

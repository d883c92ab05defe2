"""A person's parameters and devices (core/parameters.py): taken literally, checked before torch is
imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import napari_darkvision as dv  # the errors as a user meets them: exported at the top
from helpers import ENHANCE, one_line_error, synthetic_raw
from napari_darkvision import cli


@pytest.mark.parametrize(
    "options", [{"ratio": True}, {"ratio": 100, "stretch": "no"}, {"ratio": 100, "stretch": 1}]
)
def test_parameters_are_taken_literally(options):
    from napari_darkvision import enhance

    with pytest.raises(dv.EnhanceError):
        enhance(synthetic_raw(), **options)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "xpu", "meta", "bogus"])
def test_unavailable_or_unknown_devices_are_one_line_errors(tmp_path, make_dng, capsys, device):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 3:
        pytest.skip("this machine has the device")
    source, _ = make_dng()
    assert cli.main([*ENHANCE, str(source), "-o", str(tmp_path / "o.png"), "--device", device]) == 2
    one_line_error(capsys)
    with pytest.raises(dv.DeviceError):
        from napari_darkvision import enhance

        enhance(source, ratio=100, device=device)


def test_user_errors_are_reported_before_torch_is_imported(tmp_path, make_dng):
    source, _ = make_dng()
    calls = [
        [*ENHANCE, str(tmp_path / "missing.dng")],
        [*ENHANCE, str(source), "--device", "bogus"],
        ["enhance", str(source), "--ratio", "-3"],
        [*ENHANCE, str(source), "-o", str(tmp_path / "no" / "o.png")],
        [*ENHANCE, str(source), "--weights", str(tmp_path / "none.safetensors")],
    ]
    script = textwrap.dedent("""
        import json, sys, time
        from napari_darkvision.cli import main
        started = time.perf_counter()
        codes = [main(args) for args in json.loads(sys.argv[1])]
        print(json.dumps({"codes": codes, "torch": "torch" in sys.modules, "seconds": time.perf_counter() - started}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(calls)], capture_output=True, text=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["codes"] == [2] * len(calls), out.stderr
    assert not report["torch"]
    assert report["seconds"] < 1.0

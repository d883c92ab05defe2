"""EnhanceSettings: every option checked once, in the constructor, before torch; it pickles; the
pipeline trusts it."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import napari_darkvision as dv
from helpers import SAMPLE
from napari_darkvision.core.settings import EnhanceSettings, OutputSettings, settings_from


def test_values_are_normalised_once():
    settings = EnhanceSettings(ratio="250", strength="0.5", device=" CPU ", precision="Float32")
    assert (settings.ratio, settings.strength, settings.device, settings.precision) == (
        250.0,
        0.5,
        "cpu",
        "float32",
    )
    assert EnhanceSettings(ratio="auto").ratio is None and EnhanceSettings().auto_ratio


@pytest.mark.parametrize(
    "options",
    [
        {"ratio": 0.5},
        {"ratio": "bright"},
        {"strength": 1.5},
        {"stretch": "no"},
        {"hot_pixels": 1},
        {"device": "tpu"},
        {"precision": "float16"},
        {"tile": 16},
        {"tile": 128, "overlap": 64},
        {"weights": "release-4"},
        {"profile": "/nowhere/profile.npz"},
    ],
)
def test_bad_options_are_refused_when_made(options):
    with pytest.raises(dv.DarkvisionError):
        EnhanceSettings(**options)


def test_replace_checks_again_and_output_settings_check_their_own():
    with pytest.raises(dv.DarkvisionError):
        EnhanceSettings().replace(strength=-1)
    with pytest.raises(dv.DarkvisionError):
        OutputSettings(dng_compression="zip")
    assert OutputSettings(dng_compression="NONE").dng_compression == "none"


def test_settings_pickle_for_dask_workers():
    settings = EnhanceSettings(ratio=100, strength=0.25, weights="fast-rep")
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_settings_from_keywords_or_an_object():
    base = EnhanceSettings(ratio=100)
    assert settings_from(None, ratio=100) == base
    assert settings_from(base) is base
    assert settings_from(base, strength=0.5) == EnhanceSettings(ratio=100, strength=0.5)
    with pytest.raises(dv.EnhanceError, match="EnhanceSettings"):
        settings_from({"ratio": 100})


def test_checked_without_importing_torch():
    code = (
        "import sys\nfrom napari_darkvision.core.settings import EnhanceSettings\n"
        "EnhanceSettings(ratio=100, strength=0.5, weights='release-5', device='cpu')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_pipeline_trusts_the_settings(monkeypatch):
    """enhance_steps checks nothing again: the validators are not called once settings exist (the
    device is, by load_model, a public entry of its own)."""
    settings = EnhanceSettings(ratio=100, strength=0.0, hot_pixels=False)

    def refuse(*args, **kwargs):
        raise AssertionError("checked again")

    for module in ("settings", "parameters"):
        for name in ("validate_ratio", "check_strength", "check_flag"):
            monkeypatch.setattr(f"napari_darkvision.core.{module}.{name}", refuse)
    from napari_darkvision.core.progress import run_to_end

    result = run_to_end(dv.enhance_steps(SAMPLE, settings))
    assert result.metadata["ratio"] == 100.0 and result.metadata["strength"] == 0.0


def test_reblend_in_core_matches_a_new_run():
    from napari_darkvision.core.pipeline import reblend
    from napari_darkvision.core.progress import run_to_end

    full = run_to_end(dv.enhance_steps(SAMPLE, EnhanceSettings(ratio=100, precision="float32")))
    half = run_to_end(dv.enhance_steps(SAMPLE, EnhanceSettings(ratio=100, strength=0.5, precision="float32")))
    again = reblend(full, 0.5)
    assert (again.mosaic == half.mosaic).all() and again.metadata["strength"] == 0.5

"""The npe2 manifest is valid, importable, and the one the installed package exposes."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_npe2_validate_with_imports():
    # the interpreter running the tests, so that its environment is validated without activating it
    command = [sys.executable, "-m", "npe2", "validate", "napari-darkvision", "--imports"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


def test_manifest_contributions():
    from npe2 import PluginManager

    plugins = PluginManager.instance()
    plugins.discover()  # napari does this when it starts; these tests may run before any viewer
    manifest = plugins.get_manifest("napari-darkvision")
    assert manifest.display_name == "Dark Vision"
    (reader,) = manifest.contributions.readers
    assert reader.command == "napari-darkvision.get_reader"
    (widget,) = manifest.contributions.widgets
    assert widget.display_name == "Enhance"
    (sample,) = manifest.contributions.sample_data
    assert (sample.key, sample.display_name) == ("dark_gopro", "Dark street scene (GoPro, x100)")
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands[reader.command] == "napari_darkvision.plugin.reader:napari_get_reader"
    assert commands[widget.command] == "napari_darkvision.plugin.widget:EnhanceWidget"
    assert commands[sample.command] == "napari_darkvision.plugin.sample_data:dark_sample"


def test_the_manifest_is_a_plain_file_in_the_package():
    """As napari-plugin-template keeps it: in the package (the wheel's package data), not a symlink,
    which checkouts without symlinks turn into a line of text, and no second copy at the root."""
    inside = ROOT / "src" / "napari_darkvision" / "napari.yaml"
    assert inside.is_file() and not inside.is_symlink()
    assert not (ROOT / "napari.yaml").exists()
    package_data = next(
        line
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.startswith("napari_darkvision = [")
    )
    assert '"napari.yaml"' in package_data


def test_manifest_found_from_a_fresh_interpreter():
    code = (
        "from npe2 import PluginManager;pm = PluginManager.instance();pm.discover();"
        "print(pm.get_manifest('napari-darkvision').name)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "napari-darkvision", done.stderr

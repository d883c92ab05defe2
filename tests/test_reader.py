"""The reader: synthetic DNGs of every Bayer layout, the shared real raws, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import BLACK, WHITE, shared_files
from napari_darkvision.core.raw import BAYER_LAYOUTS, RAW_EXTENSIONS, read_raw
from napari_darkvision.plugin.reader import napari_get_reader

REAL_RAWS = shared_files(patterns=("*.dng", "*.DNG", "*.CR2"))


@pytest.mark.napari
@pytest.mark.parametrize("cfa", BAYER_LAYOUTS)
def test_synthetic_dng_every_layout(make_napari_viewer, make_dng, cfa):
    path, written = make_dng(cfa)
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin="napari-darkvision")
    assert len(layers) == 1
    layer = layers[0]
    assert layer._type_string == "image"
    assert not layer.rgb
    assert layer.name == path.stem
    assert layer.data.dtype == np.uint16
    np.testing.assert_array_equal(layer.data, written.mosaic)
    meta = layer.metadata
    assert meta["darkvision_raw"] is True
    assert meta["cfa"] == cfa
    assert tuple(meta["black_level"]) == BLACK
    assert meta["white_level"] == WHITE
    assert meta["path"] == str(path)
    assert (meta["make"], meta["model"], meta["iso"]) == ("Test", "Synthetic", 6400.0)
    low, high = layer.contrast_limits
    assert low == min(BLACK)
    assert min(BLACK) < high < WHITE  # a dark raw would look black up to the white level
    assert layer.colormap.name == "gray"
    assert layer.gamma < 1  # lifts the shadows; the data stay as recorded


@pytest.mark.napari
def test_dark_sample_is_visible_on_opening(make_napari_viewer):
    """The x100 sample shown as opened: its median pixel at least a sixth up the display range (3 %
    before, with limits to the 99.9th percentile and no gamma), its brightest pixels not all clipped, the data untouched."""
    viewer = make_napari_viewer()
    (layer,) = viewer.open_sample("napari-darkvision", "dark_gopro")
    low, high = layer.contrast_limits
    shown = np.clip((layer.data[::4, ::4].astype(np.float64) - low) / (high - low), 0, 1) ** layer.gamma
    print(f"displayed median {np.median(shown):.2f}, 99th percentile {np.percentile(shown, 99):.2f}")
    assert np.median(shown) > 1 / 6
    assert np.percentile(shown, 99) < 1
    assert layer.data.dtype == np.uint16 and layer.metadata["darkvision_raw"] is True


@pytest.mark.napari
@pytest.mark.skipif(not REAL_RAWS, reason="shared real raws (../shared/raw) are not available")
@pytest.mark.parametrize("path", REAL_RAWS, ids=lambda p: p.name)
def test_real_raw(make_napari_viewer, path):
    expected = read_raw(path)
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin="napari-darkvision")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name == path.stem
    assert layer.data.shape == expected.mosaic.shape
    assert layer.data.dtype == np.uint16
    np.testing.assert_array_equal(layer.data[::97, ::89], expected.mosaic[::97, ::89])
    assert layer.metadata["cfa"] == expected.cfa
    assert tuple(layer.metadata["black_level"]) == expected.black_level
    assert layer.metadata["white_level"] == expected.white_level
    low, high = layer.contrast_limits
    assert low < high <= expected.white_level


@pytest.mark.parametrize("extension", ["dng", "DNG", "Cr2", "arw", "NEF", "raf"])
def test_get_reader_accepts_raw_extensions(tmp_path, extension):
    path = tmp_path / f"photo.{extension}"
    path.write_bytes(b"\0" * 64)
    assert callable(napari_get_reader(str(path)))


@pytest.mark.parametrize(
    "name", ["image.tif", "image.png", "notes.txt", "stack.zarr", "photo.dng.txt", "dng"]
)
def test_get_reader_refuses_other_extensions(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\0" * 64)
    assert napari_get_reader(str(path)) is None


def test_get_reader_refuses_directories_lists_and_missing_files(tmp_path, make_dng):
    path, _ = make_dng()
    folder = tmp_path / "folder.dng"
    folder.mkdir()
    assert napari_get_reader(str(folder)) is None
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader([str(path)]) is None
    assert napari_get_reader([str(path), str(path)]) is None
    assert napari_get_reader(str(tmp_path / "missing.dng")) is None
    assert napari_get_reader(None) is None
    assert napari_get_reader(str(path).encode()) is None
    assert callable(napari_get_reader(path))  # a pathlib.Path is a path too


def test_manifest_patterns_cover_raw_extensions():
    from npe2 import PluginManager

    plugins = PluginManager.instance()
    plugins.discover()  # napari does this when it starts; these tests may run before any viewer
    manifest = plugins.get_manifest("napari-darkvision")
    (reader,) = manifest.contributions.readers
    patterns = set(reader.filename_patterns)
    for extension in RAW_EXTENSIONS:
        assert {f"*.{extension}", f"*.{extension.upper()}"} <= patterns
    assert reader.accepts_directories is False

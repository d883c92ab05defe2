"""The reader: synthetic DNGs of every Bayer layout, the shared real raws, stacks of raws (a
folder, files opened as a stack), and what it refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers import BLACK, SMALL_SHAPE, WHITE, shared_files, synthetic_raw
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.raw import BAYER_LAYOUTS, RAW_EXTENSIONS, read_raw
from napari_darkvision.plugin.reader import FRAMES_KEY, napari_get_reader

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


def test_get_reader_refuses_what_holds_no_raws(tmp_path, make_dng):
    path, _ = make_dng()
    folder = tmp_path / "folder.dng"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a raw")
    (folder / ".hidden.dng").write_bytes(b"\0" * 64)
    assert napari_get_reader(str(folder)) is None  # a folder without raws: for other readers
    assert napari_get_reader([]) is None
    assert napari_get_reader([str(path), str(folder / "notes.txt")]) is None
    assert napari_get_reader([str(path), str(tmp_path / "missing.dng")]) is None
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
    assert reader.accepts_directories is True  # a folder of raws opens as one stack


def write_frames(folder, count: int = 3, **changes) -> list:
    """`count` DNGs of one synthetic camera in `folder` (independent noise, frame_0.dng first),
    `changes` applied to the last frame's RawImage; returns their paths."""
    folder.mkdir(exist_ok=True)
    paths = []
    for index in range(count):
        raw = synthetic_raw(seed=index)
        if index == count - 1 and changes:
            shape = changes.pop("shape", None)
            raw = synthetic_raw(shape=shape, seed=index) if shape else raw
            raw = dataclasses.replace(raw, **changes)
        paths.append(folder / f"frame_{index}.dng")
        write_dng(paths[-1], raw)
    return paths


def assert_stack_of(layer, paths) -> None:
    """`layer` is one (N, H, W) stack of the raws at `paths`, each frame's metadata kept."""
    assert layer._type_string == "image" and not layer.rgb
    assert layer.data.shape == (len(paths), *SMALL_SHAPE) and layer.data.dtype == np.uint16
    frames = layer.metadata[FRAMES_KEY]
    assert len(frames) == len(paths)
    for index, path in enumerate(paths):
        expected = read_raw(path)
        np.testing.assert_array_equal(layer.data[index], expected.mosaic)
        assert frames[index] == expected.metadata()  # as the single-file reader gives it
        assert frames[index]["path"] == str(path)
    # frame 0's at the top level: whatever reads one raw's metadata still works
    assert {k: v for k, v in layer.metadata.items() if k != FRAMES_KEY} == frames[0]
    assert layer.metadata["darkvision_raw"] is True and layer.metadata["cfa"] == "RGGB"
    low, high = layer.contrast_limits
    assert low == min(BLACK) and min(BLACK) < high < WHITE


@pytest.mark.napari
def test_folder_opens_as_one_stack(make_napari_viewer, tmp_path):
    paths = write_frames(tmp_path / "night shoot", 3)
    (tmp_path / "night shoot" / "notes.txt").write_text("not a raw")
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path / "night shoot", plugin="napari-darkvision")
    assert len(layers) == 1
    assert layers[0].name == "night shoot"
    assert_stack_of(layers[0], paths)


@pytest.mark.napari
def test_files_opened_as_a_stack(make_napari_viewer, tmp_path):
    paths = write_frames(tmp_path / "burst", 3)
    chosen = [paths[2], paths[0], paths[1]]  # the order asked for, frame 0 first
    viewer = make_napari_viewer()
    (layer,) = viewer.open(chosen, stack=True, plugin="napari-darkvision")
    assert layer.name == "frame_2"
    assert_stack_of(layer, chosen)
    # a multi-selection opened as files (not as a stack) gives one 2-D layer each, as before
    singles = viewer.open(paths[:2], plugin="napari-darkvision")
    assert [layer.data.shape for layer in singles] == [SMALL_SHAPE, SMALL_SHAPE]
    assert all(FRAMES_KEY not in layer.metadata for layer in singles)


@pytest.mark.napari
def test_one_raw_as_a_stack_or_folder_is_one_2d_layer(make_napari_viewer, tmp_path):
    (path,) = write_frames(tmp_path / "one", 1)
    viewer = make_napari_viewer()
    for source, stack in ((path, True), (tmp_path / "one", False)):
        (layer,) = viewer.open([source], stack=stack, plugin="napari-darkvision")
        assert layer.data.shape == SMALL_SHAPE and FRAMES_KEY not in layer.metadata
        np.testing.assert_array_equal(layer.data, read_raw(path).mosaic)


MISMATCHES = {
    "camera": ({"make": "Other", "model": "Camera"}, "camera is Other Camera"),
    "size": ({"shape": (192, 256)}, "size is 192x256"),
    "colour filter": ({"cfa": "BGGR"}, "colour filter is BGGR"),
}


@pytest.mark.napari
@pytest.mark.parametrize("as_folder", [True, False], ids=["folder", "list"])
@pytest.mark.parametrize("mismatch", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_frames_of_another_camera_are_refused(
    make_napari_viewer, tmp_path, notifications, mismatch, as_folder
):
    changes, words = mismatch
    paths = write_frames(tmp_path / "mixed", 3, **changes)
    viewer = make_napari_viewer()
    source = tmp_path / "mixed" if as_folder else paths
    layers = viewer.open(source, stack=not as_folder, plugin="napari-darkvision")
    assert layers == [] and len(viewer.layers) == 0
    messages = [str(n.message) for n in notifications]
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith("napari-darkvision: ") and "\n" not in message
    assert "frame_2.dng" in message and "frame_0.dng" in message and words in message, message
    viewer.open(paths[0], plugin="napari-darkvision")  # napari stays usable
    assert len(viewer.layers) == 1

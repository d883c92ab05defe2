"""Bad files and bad requests end in a notification that says why: no traceback, no layer, and
nothing the user had is changed."""

from __future__ import annotations

import contextlib
import hashlib
import math
import shutil

import numpy as np
import pytest

from helpers import SAMPLE, shared_files
from napari_darkvision.plugin.reader import NO_LAYERS, napari_get_reader
from napari_darkvision.plugin.widget import EnhanceWidget

BROKEN = shared_files("broken")
EDGE = shared_files("edge")
SHARED_BROKEN_DNG = next((p for p in BROKEN if p.name == "exiftool_DNG.dng"), None)
pytestmark = pytest.mark.napari


def errors(notifications) -> list[str]:
    return [str(n.message) for n in notifications if str(n.severity) in ("error", "ERROR")]


def docked(viewer) -> EnhanceWidget:
    """The widget as napari shows it, docked: the viewer closes it with itself (no leak)."""
    widget = EnhanceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Enhance")
    return widget


def open_refused(viewer, path, notifications) -> str:
    """Open `path` with our reader; check that nothing was added and return the message shown."""
    before = len(viewer.layers)
    assert napari_get_reader(str(path)) is not None  # refusing would say nothing about why
    layers = viewer.open(path, plugin="napari-darkvision")  # must not raise
    assert layers == []
    assert len(viewer.layers) == before
    shown = errors(notifications)
    assert len(shown) == 1, shown
    assert path.name in shown[0]
    return shown[0]


def test_text_file_with_raw_extension(make_napari_viewer, tmp_path, notifications):
    path = tmp_path / "holiday.ARW"
    path.write_text("this is not a photograph\n" * 100)
    message = open_refused(make_napari_viewer(), path, notifications)
    assert "not a supported camera raw" in message


def test_empty_file(make_napari_viewer, tmp_path, notifications):
    path = tmp_path / "empty.dng"
    path.write_bytes(b"")
    open_refused(make_napari_viewer(), path, notifications)


@pytest.mark.parametrize("keep", [0.02, 0.3, 0.9])
def test_truncated_dng(make_napari_viewer, make_dng, notifications, keep):
    path, _ = make_dng()
    data = path.read_bytes()
    cut = path.with_name(f"cut_{int(keep * 100)}.dng")
    cut.write_bytes(data[: int(len(data) * keep)])
    open_refused(make_napari_viewer(), cut, notifications)


def test_reader_function_never_raises(tmp_path, notifications):
    path = tmp_path / "junk.nef"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    assert napari_get_reader(str(path))(str(path)) == NO_LAYERS
    assert errors(notifications)


@pytest.mark.skipif(not BROKEN, reason="shared broken raws (../shared/raw/broken) are not available")
@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_shared_broken_files(make_napari_viewer, path, notifications):
    open_refused(make_napari_viewer(), path, notifications)


@pytest.mark.skipif(not EDGE, reason="shared non-Bayer raws (../shared/raw/edge) are not available")
@pytest.mark.parametrize("path", EDGE, ids=lambda p: p.name)
def test_shared_non_bayer_files(make_napari_viewer, path, notifications):
    message = open_refused(make_napari_viewer(), path, notifications)
    assert "Bayer" in message


# -- the widget -------------------------------------------------------------------------------


@pytest.fixture
def viewer_with_raw(make_napari_viewer, make_dng):
    viewer = make_napari_viewer()
    path, _ = make_dng()
    (layer,) = viewer.open(path, plugin="napari-darkvision")
    widget = docked(viewer)
    return viewer, widget, layer


@pytest.mark.parametrize("ratio", [0, -5, 0.5, math.nan, math.inf, -math.inf, 1e9, "lots"])
def test_widget_refuses_bad_ratio(viewer_with_raw, notifications, ratio):
    viewer, widget, layer = viewer_with_raw
    data = layer.data.copy()
    assert widget.start(ratio=ratio) is None
    assert widget.worker is None
    assert len(viewer.layers) == 1
    np.testing.assert_array_equal(layer.data, data)
    (message,) = errors(notifications)
    assert "Ratio must be" in message
    assert widget.enhance_button.enabled  # nothing left half-running


@pytest.mark.parametrize("ratio", [0, -5, 1e9])
def test_ratio_control_holds_only_valid_ratios(viewer_with_raw, ratio):
    _, widget, _ = viewer_with_raw
    widget.ratio_preset.value = "custom"
    with pytest.raises(ValueError, match="outside of the allowed range"):
        widget.ratio.value = ratio
    assert 1 <= widget.ratio.value <= 3000


def test_ratio_control_nan(viewer_with_raw):
    _, widget, _ = viewer_with_raw
    widget.ratio_preset.value = "custom"
    with contextlib.suppress(ValueError):  # magicgui may refuse it or clamp it: both are fine
        widget.ratio.value = math.nan
    assert math.isfinite(widget.ratio.value)
    assert 1 <= widget.ratio.value <= 3000


def test_widget_on_layer_without_raw_metadata(make_napari_viewer, notifications):
    viewer = make_napari_viewer()
    plain = viewer.add_image(np.full((64, 96), 700, dtype=np.uint16), name="plain")
    data = plain.data.copy()
    widget = docked(viewer)
    assert widget.layer.choices == ()  # only raw layers are offered
    assert widget.start() is None  # nothing chosen
    assert widget.start(layer=plain) is None  # forced by a script
    shown = errors(notifications)
    assert len(shown) == 2
    assert "raw" in shown[0]
    assert "no raw metadata" in shown[1]
    assert [layer.name for layer in viewer.layers] == ["plain"]
    np.testing.assert_array_equal(plain.data, data)
    assert plain.metadata == {}


@pytest.mark.parametrize(
    "damage",
    [
        lambda layer: layer.metadata.pop("black_level"),
        lambda layer: layer.metadata.update(white_level=0.0),
        lambda layer: setattr(layer, "data", np.zeros((8, 8), dtype=np.uint16)),
    ],
    ids=["no-black-level", "white-below-black", "tiny-data"],
)
def test_widget_on_layer_with_damaged_metadata(viewer_with_raw, notifications, damage):
    viewer, widget, layer = viewer_with_raw
    damage(layer)
    assert widget.start(layer=layer) is None
    assert len(errors(notifications)) == 1
    assert len(viewer.layers) == 1


def test_widget_missing_weights_file(viewer_with_raw, notifications, tmp_path):
    viewer, widget, _ = viewer_with_raw
    widget.weights.value = tmp_path / "nowhere.safetensors"
    assert widget.start() is None
    assert "No model weights at" in errors(notifications)[0]


def test_widget_bad_weights_file(viewer_with_raw, notifications, tmp_path, qtbot):
    viewer, widget, _ = viewer_with_raw
    weights = tmp_path / "garbage.safetensors"
    weights.write_bytes(b"not a tensor file")
    widget.weights.value = weights
    assert widget.start(ratio=100) is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert len(viewer.layers) == 1
    assert widget.last_result_layer is None
    # a ModelError naming the file (it was a raw SafetensorError, "failed", before)
    assert "garbage.safetensors is not a readable .safetensors weights file" in errors(notifications)[0]
    assert widget.enhance_button.enabled


def test_enhancing_leaves_the_source_file_alone(make_napari_viewer, tmp_path, qtbot):
    path = tmp_path / SAMPLE.name
    shutil.copyfile(SAMPLE, path)
    digest, stat = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat()
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin="napari-darkvision")
    data = layer.data.copy()
    widget = docked(viewer)
    widget.start(ratio=100)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.last_result_layer is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    np.testing.assert_array_equal(layer.data, data)


@pytest.mark.skipif(not (SHARED_BROKEN_DNG and shared_files()), reason="shared raws are not available")
def test_pruned_dng_after_a_good_raw(make_napari_viewer, notifications):
    """LibRaw leaves the buffer of a pruned compressed DNG unfilled: it must not show the pixels
    (and levels) of the raw read before it as an image."""
    viewer = make_napari_viewer()
    good = next(p for p in shared_files() if p.suffix.lower() in (".cr2", ".dng"))
    viewer.open(good, plugin="napari-darkvision")
    message = open_refused(viewer, SHARED_BROKEN_DNG, notifications)
    assert "no image data" in message

"""The live preview on its own, driven by a stand-in for the widget (what ``PreviewHost`` names):
one layer of the region the canvas shows, waiting for a full run, bad input in the status line."""

from __future__ import annotations

import pytest

pytest.importorskip("qtpy", reason="the preview runs napari thread workers (needs a Qt binding)")
TIMEOUT_MS = 180_000


class Host:
    """What a widget tells the preview; records what the preview tells it."""

    def __init__(self, layer=None, wanted=True, before=False, running=False):
        self.layer, self.wanted, self.before, self.running = layer, wanted, before, running
        self.statuses: list[str] = []
        self.autos: list[dict] = []
        self.strengths: list[float | None] = []

    def preview_wanted(self) -> bool:
        return self.wanted

    def shows_before(self) -> bool:
        return self.before

    def enhancing(self) -> bool:
        return self.running

    def preview_request(self, strength):
        from napari_darkvision.plugin.state import EnhanceRequest, raw_from_layer, source_key

        self.strengths.append(strength)
        raw = raw_from_layer(self.layer, copy=False)
        return EnhanceRequest(
            raw=raw,
            source_name=self.layer.name,
            ratio=100.0,
            stretch=False,
            weights=None,
            strength=1.0 if strength is None else strength,
            source_scale=tuple(self.layer.scale),
            source_translate=tuple(self.layer.translate),
            source=source_key(self.layer),
        )

    def source_layer(self):
        return self.layer

    def show_status(self, text: str) -> None:
        self.statuses.append(text)

    def show_auto(self, metadata: dict) -> None:
        self.autos.append(metadata)


@pytest.fixture
def raw_viewer(make_napari_viewer, make_dng):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(make_dng()[0], plugin="napari-darkvision")
    return viewer, layer


@pytest.mark.napari
def test_preview_asks_its_host_and_fills_one_layer(raw_viewer, qtbot):
    from napari_darkvision.plugin.preview import PREVIEW_NAME, LivePreview

    viewer, layer = raw_viewer
    host = Host(layer, before=True)
    live = LivePreview(viewer, host)
    worker = live.update()
    assert worker is not None and live.busy
    qtbot.waitUntil(lambda: not live.busy, timeout=TIMEOUT_MS)
    assert host.strengths == [0.0], "the 'before' view is the input at strength 0"
    assert live.layer is not None and live.layer.name == PREVIEW_NAME, host.statuses
    assert host.statuses[0] == "previewing" and host.statuses[-1].startswith("preview (before")
    top, bottom, left, right = live.layer.metadata["preview_box"]
    assert live.layer.data.shape[:2] == (bottom - top, right - left)
    assert [layer.name for layer in viewer.layers].count(PREVIEW_NAME) == 1

    host.wanted = False
    live.schedule()
    assert live.layer is None and PREVIEW_NAME not in [layer.name for layer in viewer.layers]
    assert live.update() is None and not live.busy
    live.on_destroyed()


@pytest.mark.napari
def test_preview_waits_for_a_full_run_and_reports_bad_input(raw_viewer):
    from napari_darkvision.plugin.preview import LivePreview

    viewer, layer = raw_viewer
    host = Host(layer, running=True)
    live = LivePreview(viewer, host)
    assert live.update() is None and live.pending and live.busy
    assert live.worker is None and host.strengths == []

    host.running, host.layer = False, None  # no raw layer: a message in the status line
    assert live.update() is None
    assert not live.pending and live.layer is None
    assert host.statuses[-1].startswith("no preview: No raw layer")
    live.on_destroyed()
    assert not live.alive and live.update() is None  # nothing runs once its widget is gone

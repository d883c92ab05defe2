"""The caches of the napari face: keys that no other array can take, and the "auto" cache the
preview workers of several viewers share."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from helpers import synthetic_raw

pytest.importorskip("qtpy", reason="the workers are napari thread workers (needs a Qt binding)")


class FakeLayer:
    def __init__(self, data):
        self.data, self.metadata = data, {"black_level": [512] * 4, "white_level": 16383}


def test_source_key_is_never_given_to_another_array():
    from napari_darkvision.plugin.state import source_key

    keys = set()
    for _ in range(64):  # freed arrays of one size: id() takes the same values again
        keys.add(source_key(FakeLayer(np.zeros((64, 64), np.uint16))))
        gc.collect()
    assert len(keys) == 64

    layer = FakeLayer(np.zeros((64, 64), np.uint16))
    assert source_key(layer) == source_key(layer), "the same pixels keep their key (the caches hit)"
    before = source_key(layer)
    layer.data = np.zeros((64, 64), np.uint16)
    assert source_key(layer) != before


def test_source_key_of_a_real_layer_follows_its_data():
    pytest.importorskip("napari")
    from napari.layers import Image

    from napari_darkvision.plugin.state import source_key

    layer = Image(np.zeros((64, 64), np.uint16), metadata={"black_level": [0] * 4, "white_level": 1023})
    first = source_key(layer)
    assert source_key(layer) == first
    layer.data = np.ones((64, 64), np.uint16)
    assert source_key(layer) != first


class SlowDict(dict):
    """A dict whose every lookup and removal lets other threads run first: races show at once."""

    def _pause(self):
        time.sleep(0.0005)

    def __contains__(self, key):
        self._pause()
        return super().__contains__(key)

    def __getitem__(self, key):
        self._pause()
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._pause()
        return super().get(key, default)

    def pop(self, key, *default):
        self._pause()
        return super().pop(key, *default)


def test_auto_cache_survives_worker_threads(monkeypatch):
    from napari_darkvision.plugin import worker
    from napari_darkvision.plugin.state import EnhanceRequest

    monkeypatch.setattr(worker, "estimate_ratio", lambda raw: (100.0, "stub estimate"))
    cache = SlowDict()
    monkeypatch.setattr(worker, "_auto_ratios", cache)
    raw = synthetic_raw("RGGB", (64, 64))
    requests = [
        EnhanceRequest(raw=raw, source_name="dark", ratio="auto", stretch=False, weights=None, source=(n,))
        for n in range(8)
    ]
    errors = []

    def preview_ratios():  # as preview workers of several viewers do
        try:
            for _ in range(10):
                for request in requests:
                    assert worker.preview_ratio(request) == (100.0, "stub estimate")
        except Exception as err:  # noqa: BLE001 - collected, the test fails on it
            errors.append(err)

    threads = [threading.Thread(target=preview_ratios) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 4

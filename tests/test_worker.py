"""The widget's workers without a viewer: they run on their own copy of the pixels, made in the
worker thread, so that the viewer's thread never copies a whole frame."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import synthetic_raw

pytest.importorskip("qtpy", reason="the workers are napari thread workers (needs a Qt binding)")


def test_runs_copy_the_pixels_they_use_and_leave_the_layers_array_alone():
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.plugin.state import EnhanceRequest
    from napari_darkvision.plugin.worker import Preview, own_pixels, run_enhance, run_preview

    raw = synthetic_raw("RGGB", (256, 384))
    layer_data = raw.mosaic
    before = layer_data.copy()
    request = EnhanceRequest(raw=raw, source_name="dark", ratio=100.0, stretch=False, weights=None)

    box = (64, 192, 128, 320)
    crop = own_pixels(raw, box)
    assert crop.mosaic.shape == (128, 192) and not np.shares_memory(crop.mosaic, layer_data)
    assert np.array_equal(crop.mosaic, layer_data[64:192, 128:320])
    assert not np.shares_memory(own_pixels(raw).mosaic, layer_data)

    preview = run_preview(request, box=box)
    assert isinstance(preview, Preview), preview
    assert not np.shares_memory(preview.result.raw.mosaic, layer_data)
    result = run_to_end(run_enhance(request))
    assert not np.shares_memory(result.raw.mosaic, layer_data)
    assert np.array_equal(layer_data, before)  # the source is never written

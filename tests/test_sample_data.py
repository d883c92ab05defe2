"""Opening the sample is opening its file with the reader."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import SAMPLE
from napari_darkvision.plugin.reader import read_raw_layer
from napari_darkvision.plugin.sample_data import dark_sample


def test_sample_function_equals_reader():
    ((data, kwargs, kind),) = dark_sample()
    ((file_data, file_kwargs, file_kind),) = read_raw_layer(str(SAMPLE))
    assert kind == file_kind == "image"
    np.testing.assert_array_equal(data, file_data)
    assert kwargs == file_kwargs
    assert kwargs["name"] == "gopro_dark_x100"
    assert kwargs["metadata"]["darkvision_raw"] is True


@pytest.mark.napari
def test_sample_layer_equals_reader_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    (sample,) = viewer.open_sample("napari-darkvision", "dark_gopro")
    viewer.layers.remove(sample)  # else napari renames the second one "... [1]"
    (opened,) = viewer.open(SAMPLE, plugin="napari-darkvision")
    np.testing.assert_array_equal(sample.data, opened.data)
    assert sample.data.shape == (1200, 1600)
    assert sample.data.dtype == np.uint16
    assert sample.metadata == opened.metadata
    assert tuple(sample.contrast_limits) == tuple(opened.contrast_limits)
    assert sample.colormap.name == opened.colormap.name == "gray"
    assert opened.name == sample.name == "gopro_dark_x100"

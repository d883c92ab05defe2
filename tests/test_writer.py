"""The napari writer contribution under Xvfb: File > Save Selected Layer(s) with napari-darkvision."""

from __future__ import annotations

import numpy as np
import pytest

from napari_darkvision.core.raw import read_raw

pytestmark = pytest.mark.napari


def test_a_raw_layer_saves_as_dng_through_napari(make_napari_viewer, make_dng, tmp_path):
    source, raw = make_dng("BGGR")
    viewer = make_napari_viewer()
    viewer.open(str(source), plugin="napari-darkvision")
    written = viewer.layers.save(str(tmp_path / "saved.dng"), selected=False, plugin="napari-darkvision")
    assert written == [str(tmp_path / "saved.dng")]
    back = read_raw(tmp_path / "saved.dng")
    assert back.cfa == "BGGR"
    np.testing.assert_array_equal(back.mosaic, raw.mosaic)


def test_a_stack_of_raws_is_refused_with_a_message(make_napari_viewer, make_dng, tmp_path):
    from napari_darkvision.core.errors import OutputError

    paths = [make_dng(name=f"frame_{index}.dng")[0] for index in range(2)]
    viewer = make_napari_viewer()
    viewer.open(paths, stack=True, plugin="napari-darkvision")
    with pytest.raises(OutputError, match="A stack of raws is several files"):
        viewer.layers.save(str(tmp_path / "saved.dng"), selected=False, plugin="napari-darkvision")
    assert not (tmp_path / "saved.dng").exists()


def test_an_enhanced_layer_saves_as_dng_and_png(make_napari_viewer, make_dng, tmp_path):
    source, raw = make_dng("RGGB")
    viewer = make_napari_viewer()
    mosaic = np.minimum(raw.mosaic.astype(np.uint32) * 40, 16383).astype(np.uint16)
    metadata = {"ratio": 40.0, "darkvision_result": True, "darkvision_source": read_raw(source).metadata(),
                "darkvision_mosaic": mosaic}  # fmt: skip
    viewer.add_image(np.full((*raw.shape, 3), 20000, np.uint16), rgb=True, metadata=metadata, name="enhanced")
    viewer.layers.save(str(tmp_path / "enhanced.dng"), selected=False, plugin="napari-darkvision")
    np.testing.assert_array_equal(read_raw(tmp_path / "enhanced.dng").mosaic, mosaic)
    viewer.layers.save(str(tmp_path / "enhanced.png"), selected=False, plugin="napari-darkvision")
    assert (tmp_path / "enhanced.png").stat().st_size > 0

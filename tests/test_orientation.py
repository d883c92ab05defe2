"""The camera's orientation travels with the RawImage: a render without the source file keeps it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers import synthetic_raw
from napari_darkvision.core.raw import read_raw


@pytest.mark.parametrize("flip", [1, 3, 6])
def test_rendering_without_the_source_file_keeps_the_orientation(tmp_path, flip):
    from napari_darkvision.core.dng import write_dng
    from napari_darkvision.core.render import render

    path = tmp_path / "oriented.dng"
    write_dng(path, dataclasses.replace(synthetic_raw(shape=(64, 96)), orientation=flip))
    raw = read_raw(path)
    assert raw.orientation == flip
    from_file = render(raw, raw.mosaic)
    path.unlink()  # moved or deleted since it was read: the temporary-DNG route
    without_file = render(raw, raw.mosaic)
    assert from_file.shape == without_file.shape
    # the re-written DNG's rational tags round the levels and matrix by a hair: a few DN of 65535
    difference = np.abs(from_file.astype(int) - without_file.astype(int))
    assert difference.max() < 64
    mirrored = np.abs(from_file.astype(int) - without_file[:, ::-1].astype(int))
    assert mirrored.mean() > 20 * difference.mean() + 50
    assert from_file.shape[:2] == ((96, 64) if flip in (5, 6) else (64, 96))

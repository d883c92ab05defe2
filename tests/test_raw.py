"""Reading raws into RawImage, and packing Bayer mosaics to 4 channels and back."""

import dataclasses

import numpy as np
import pytest

from helpers import BLACK, WHITE, shared_files, synthetic_raw
from napari_darkvision.core.raw import (
    BAYER_LAYOUTS,
    RawImage,
    RawReadError,
    channel_positions,
    mosaic_from_packed,
    pack,
    read_raw,
    unpack,
)


@pytest.mark.parametrize("cfa", BAYER_LAYOUTS)
def test_pack_puts_each_colour_in_its_channel(cfa):
    # each colour gets a distinct constant, so the packed channel tells which colour it read
    values = {"R": 1000, "G1": 2000, "B": 3000, "G2": 4000}
    mosaic = mosaic_from_packed(np.stack([np.full((3, 4), v, np.uint16) for v in values.values()]), cfa)
    r_pos, _, b_pos, _ = channel_positions(cfa)
    assert mosaic[r_pos] == 1000 and mosaic[b_pos] == 3000
    raw = RawImage(
        mosaic=mosaic, cfa=cfa, black_level=(0, 0, 0, 0), white_level=10000, camera_wb=(1, 1, 1, 1)
    )
    packed = pack(raw)
    assert packed.shape == (4, 3, 4)
    assert np.allclose(packed.reshape(4, -1).mean(axis=1), [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("cfa", BAYER_LAYOUTS)
def test_pack_unpack_round_trip_is_exact(cfa):
    raw = synthetic_raw(cfa, shape=(64, 96))
    packed = pack(raw)
    assert packed.dtype == np.float32
    assert np.array_equal(unpack(packed, raw), raw.mosaic)


def test_pack_normalises_per_channel_black_and_ratio():
    raw = synthetic_raw("GBRG", shape=(32, 32))
    packed = pack(raw, ratio=100.0, clip=False)
    r, c = channel_positions("GBRG")[2]
    expected = (raw.mosaic[r::2, c::2].astype(np.float64) - BLACK[2]) / (WHITE - BLACK[2]) * 100
    assert np.allclose(packed[2], expected, rtol=1e-5)
    assert pack(raw, ratio=1e4).max() == 1.0  # clipped at white, as SID does


def test_odd_sizes_keep_the_unpaired_edge():
    raw = synthetic_raw("RGGB", shape=(34, 50))
    odd = dataclasses.replace(raw, mosaic=raw.mosaic[:33, :49])
    packed = pack(odd)
    assert packed.shape == (4, 16, 24)
    assert np.array_equal(unpack(packed, odd), odd.mosaic)


def test_metadata_round_trip_and_refusal_without_it():
    raw = synthetic_raw("BGGR")
    meta = raw.metadata()
    assert meta["darkvision_raw"] and meta["cfa"] == "BGGR" and "mosaic" not in meta
    again = RawImage.from_metadata(raw.mosaic, meta)
    assert again.black_level == raw.black_level and again.cfa == "BGGR"
    with pytest.raises(RawReadError, match="no raw metadata"):
        RawImage.from_metadata(raw.mosaic, {"foo": 1})


def test_not_a_raw_file_is_a_clear_error(tmp_path):
    fake = tmp_path / "holiday.ARW"
    fake.write_text("not a raw file")
    with pytest.raises(RawReadError, match="holiday.ARW"):
        read_raw(fake)


@pytest.mark.parametrize("path", shared_files("", ("*.dng", "*.DNG", "*.CR2")), ids=lambda p: p.name)
def test_real_raws_read_with_metadata(path):
    raw = read_raw(path)
    assert raw.cfa in BAYER_LAYOUTS and raw.mosaic.dtype == np.uint16
    assert max(raw.black_level) < raw.white_level
    assert raw.camera_wb[1] == 1.0 and all(w > 0 for w in raw.camera_wb)
    assert np.abs(raw.rgb_from_camera - np.eye(3)).max() > 0.05  # a real camera matrix, not identity
    assert raw.make or raw.model


@pytest.mark.parametrize("path", shared_files("broken") + shared_files("edge"), ids=lambda p: p.name)
def test_broken_and_non_bayer_files_are_refused_clearly(path):
    with pytest.raises(RawReadError) as info:
        read_raw(path)
    assert path.name in str(info.value)


def test_x_trans_cmyg_and_monochrome_patterns_are_not_supported():
    from napari_darkvision.core.raw import bayer_layout

    assert bayer_layout(np.array([[3, 2], [0, 1]]), b"RGBG") == "GBRG"
    x_trans = np.array(
        [[1, 1, 0, 1, 1, 2], [1, 1, 2, 1, 1, 0], [2, 0, 1, 0, 2, 1],
         [1, 1, 2, 1, 1, 0], [1, 1, 0, 1, 1, 2], [0, 2, 1, 2, 0, 1]]
    )  # fmt: skip
    with pytest.raises(RawReadError, match="X-Trans"):
        bayer_layout(x_trans, b"RGBG")
    with pytest.raises(RawReadError, match="'CMYG'"):
        bayer_layout(np.array([[0, 1], [2, 3]]), b"CMYG")
    with pytest.raises(RawReadError, match="monochrome"):
        bayer_layout(None, b"RGBG")

"""save_result / save_rgb16 / the writer: DNG from an Enhanced result, the photo's metadata in
TIFF and PNG, refusal to write over a source, no partial file after a failed write."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from helpers import read_png16, synthetic_raw
from napari_darkvision.core import dng
from napari_darkvision.core.errors import OutputError
from napari_darkvision.core.export import save_result
from napari_darkvision.core.pipeline import Enhanced
from napari_darkvision.core.raw import read_raw
from napari_darkvision.plugin import writer as plugin_writer

EXIF = {
    "f_number": 2.8,
    "focal_length": 24.0,
    "lens_model": "Test 24mm",
    "datetime_original": "2026:01:02 03:04:05",
}
DETAILS = {"ratio": 100.0, "ratio_mode": "manual", "stretch": False, "model": "fast-rep", "model_version": 6}


def result(tmp_path):
    source = dataclasses.replace(synthetic_raw("GBRG"), exif=EXIF, path=str(tmp_path / "source.dng"))
    dng.write_dng(source.path, source)
    mosaic = np.minimum(source.mosaic.astype(np.uint32) * 40, 16383).astype(np.uint16)
    image = np.full((*source.shape, 3), 30000, np.uint16)
    return Enhanced(image, dict(DETAILS), mosaic=mosaic, raw=source)


def test_dng_result_has_the_enhanced_mosaic_and_the_photos_metadata(tmp_path):
    enhanced = result(tmp_path)
    save_result(tmp_path / "out.dng", enhanced)
    back = read_raw(tmp_path / "out.dng")
    np.testing.assert_array_equal(back.mosaic, enhanced.mosaic)
    assert back.cfa == "GBRG" and back.exif == EXIF and back.iso == 6400.0


def test_tiff_and_png_carry_the_metadata(tmp_path):
    import tifffile

    enhanced = result(tmp_path)
    save_result(tmp_path / "out.tif", enhanced)
    save_result(tmp_path / "out.png", enhanced)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages[0]
        exif = page.tags["ExifTag"].value
        assert page.tags["Make"].value == "Test" and exif["ISOSpeedRatings"] == 6400
        assert exif["LensModel"] == "Test 24mm" and exif["DateTimeOriginal"] == "2026:01:02 03:04:05"
        np.testing.assert_array_equal(page.asarray(), enhanced.image)
    png = Image.open(tmp_path / "out.png")
    assert "ratio x100" in png.info["Description"] and "napari-darkvision" in png.info["Software"]
    exif = png.getexif().get_ifd(0x8769)
    assert exif[0x829D] == 2.8 and exif[0x8827] == 6400  # FNumber, ISO


@pytest.mark.parametrize("with_source", [True, False])
def test_tiff_and_png_say_their_pixels_are_srgb(tmp_path, with_source):
    """TIFF: the sRGB ICC profile in tag 34675 (tifffile reads it, Little CMS parses it, and it maps
    pixels to Little CMS's own sRGB unchanged); PNG: the sRGB chunk, and the gAMA and cHRM beside it,
    before the image data. With or without the source's metadata."""
    import io

    import tifffile
    from PIL import ImageCms

    from napari_darkvision.core.export import save_rgb16

    enhanced = result(tmp_path)
    raw = enhanced.raw if with_source else None
    for suffix in ("tif", "png"):
        save_rgb16(tmp_path / f"out.{suffix}", enhanced.image, DETAILS, raw=raw)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        icc = tif.pages[0].tags[34675].value
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    pixels = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    to_srgb = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    assert (
        np.abs(np.asarray(ImageCms.applyTransform(pixels, to_srgb)).astype(int) - np.asarray(pixels)).max()
        <= 1
    )
    with Image.open(tmp_path / "out.png") as png:
        assert png.info["srgb"] == 0  # perceptual
        assert png.info["gamma"] == pytest.approx(1 / 2.2, abs=1e-4)
        assert png.info["chromaticity"] == pytest.approx((0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06))
    kinds = [kind for kind, _ in png_chunks(tmp_path / "out.png")]
    assert kinds.index(b"sRGB") < kinds.index(b"IDAT") and kinds.count(b"iCCP") == 0


def png_chunks(path):
    import struct

    content, at, chunks = path.read_bytes(), 8, []
    while at < len(content):
        (length,) = struct.unpack(">I", content[at : at + 4])
        chunks.append((content[at + 4 : at + 8], content[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def test_dng_needs_the_mosaic(tmp_path):
    enhanced = dataclasses.replace(result(tmp_path), mosaic=None)
    with pytest.raises(OutputError, match="no enhanced mosaic"):
        save_result(tmp_path / "out.dng", enhanced)


def test_never_writes_over_the_source(tmp_path):
    enhanced = result(tmp_path)
    before = (tmp_path / "source.dng").read_bytes()
    with pytest.raises(OutputError):
        save_result(enhanced.raw.path, enhanced, overwrite=True)
    assert (tmp_path / "source.dng").read_bytes() == before


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    enhanced = result(tmp_path)

    def fails_midway(path, *tags_and_data, **layout):
        with open(path, "wb") as f:
            f.write(b"II*\x00 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dng, "write_tiff_pieces", fails_midway)
    with pytest.raises(OutputError):
        save_result(tmp_path / "out.dng", enhanced)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.dng"]


def test_writer_works_from_the_layer_metadata_contract(tmp_path):
    enhanced = result(tmp_path)
    metadata = {**DETAILS, "darkvision_result": True, "darkvision_source": enhanced.raw.metadata(),
                "darkvision_mosaic": enhanced.mosaic}  # fmt: skip
    plugin_writer.write_image(str(tmp_path / "layer.dng"), enhanced.image, {"metadata": metadata})
    np.testing.assert_array_equal(read_raw(tmp_path / "layer.dng").mosaic, enhanced.mosaic)
    del metadata["darkvision_mosaic"]
    with pytest.raises(OutputError, match="no enhanced mosaic"):
        plugin_writer.write_image(str(tmp_path / "again.dng"), enhanced.image, {"metadata": metadata})
    raw_meta = enhanced.raw.metadata()
    with pytest.raises(OutputError, match="input"):
        plugin_writer.write_image(enhanced.raw.path, enhanced.raw.mosaic, {"metadata": raw_meta})


@pytest.mark.parametrize("pieces", [1, 3])
def test_png_pixels_decode_exactly_by_the_specification_and_pillow(tmp_path, monkeypatch, pieces):
    """Every 16-bit value comes back (our decoder by the PNG specification, Pillow's 8-bit reading
    of the high bytes), deflated in one piece or in several in parallel."""
    from napari_darkvision.core import export, parameters

    monkeypatch.setattr(parameters, "usable_cores", lambda: pieces)
    monkeypatch.setattr(export, "PNG_PIECE_BYTES", 1000)
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 65536, (37, 53, 3), dtype=np.uint16)
    rgb[10:20] = 65535  # a saturated band: rows equal to the one above
    rgb[25:] = np.cumsum(rng.integers(0, 300, (12, 53, 3)), axis=1).astype(np.uint16)
    export.write_png16(tmp_path / "a.png", rgb, [(b"tEXt", b"Software\x00napari-darkvision")])
    np.testing.assert_array_equal(read_png16(tmp_path / "a.png"), rgb)
    with Image.open(tmp_path / "a.png") as png:
        assert png.size == (53, 37) and png.info["Software"] == "napari-darkvision"
        np.testing.assert_array_equal(np.asarray(png.convert("RGB")), (rgb >> 8).astype(np.uint8))

"""The DNG we write, read by real raw developers (darktable, RawTherapee, dcraw) and by
LibRaw/rawpy and exiftool; each tool's tests skip when it is not installed.

The test scene is a rendered-exposure ("enhanced") mosaic of six flat patches: grey, red, green,
blue, a saturated patch (every channel at the white level: it must come out neutral white, not
magenta, which needs the right WhiteLevel) and a dark grey. Each reader's rendering is compared
with ours (LibRaw's, :func:`~napari_darkvision.core.render.render`) by each patch's chromaticity
(the share of R, G, B in it): every developer applies its own tone curve, but a wrong CFA phase,
a colour cast or a black image move the shares by 0.1 or more.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rawpy
import tifffile

from helpers import BLACK, shared_files
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.raw import BAYER_LAYOUTS, RawImage, mosaic_from_packed, read_raw
from napari_darkvision.core.render import render

SHAPE = (256, 384)
WB = (2.0, 1.0, 1.5, 1.0)
#: white-balanced colours of the patches (the saturated one is set at the white level in camera space)
PATCHES = [
    (0.25, 0.25, 0.25),
    (0.45, 0.12, 0.10),
    (0.10, 0.40, 0.10),
    (0.08, 0.15, 0.50),
    None,
    (0.05, 0.05, 0.05),
]
SATURATED, GREY = 4, 0
#: chromaticity share difference allowed against our rendering (measured: at most 0.035, darktable)
CHROMA_TOLERANCE = 0.07
#: RawTherapee leaves out a border of 4 pixels on each side
BORDER = 8


def scene(cfa: str = "RGGB", white: float = 16383.0, orientation: int = 0, shape=SHAPE) -> RawImage:
    h, w = shape[0] // 2, shape[1] // 2
    packed = np.zeros((4, h, w))
    for i, patch in enumerate(PATCHES):
        y, x = (i // 3) * (h // 2), (i % 3) * (w // 3)
        camera = (1.0, 1.0, 1.0) if patch is None else (patch[0] / WB[0], patch[1], patch[2] / WB[2])
        for channel, value in enumerate((camera[0], camera[1], camera[2], camera[1])):
            packed[channel, y : y + h // 2, x : x + w // 3] = value
    black = np.rint(np.array(BLACK)[:, None, None] * (white / 16383.0))  # LibRaw reads whole DN
    counts = np.rint(black + packed * (white - black)).astype(np.uint16)
    return RawImage(
        mosaic=mosaic_from_packed(counts, cfa), cfa=cfa, black_level=tuple(black.ravel().tolist()),
        white_level=white, camera_wb=WB, iso=100.0, exposure_time=0.01, make="Test", model="Synthetic",
        orientation=orientation,
    )  # fmt: skip


def patch_means(image: np.ndarray, orientation: int = 0) -> np.ndarray:
    """(6, 3) mean colour of the middle of each patch (the image turned back to the sensor's way)."""
    if orientation == 6:  # 90 degrees clockwise: undo it
        image = np.rot90(image, 1)
    h, w = image.shape[:2]
    out = []
    for i in range(len(PATCHES)):
        y, x = (i // 3) * (h // 2), (i % 3) * (w // 3)
        out.append(image[y + h // 8 : y + 3 * h // 8, x + w // 12 : x + w // 4].reshape(-1, 3).mean(0))
    return np.array(out)


def chroma_differences(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """(6, 3) difference of each patch's R, G, B shares."""
    share = lambda m: m / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)  # noqa: E731
    return share(theirs) - share(ours)


def load_rgb(path) -> np.ndarray:
    image = tifffile.imread(path)[..., :3].astype(np.float64)
    return image / (65535.0 if image.max() > 255 else 255.0)


def _dcraw(dng, out_dir):
    copy = out_dir / "dcraw.dng"
    shutil.copy(dng, copy)
    subprocess.run(["dcraw", "-w", "-T", str(copy)], check=True, timeout=120, capture_output=True)
    return copy.with_suffix(".tiff")


def _darktable(dng, out_dir):
    out = out_dir / "darktable.tif"
    config = out_dir / "darktable-config"
    config.mkdir(exist_ok=True)
    subprocess.run(["darktable-cli", str(dng), str(out), "--core", "--configdir", str(config)],
                   check=True, timeout=300, capture_output=True)  # fmt: skip
    return out


def _rawtherapee(dng, out_dir):
    out = out_dir / "rawtherapee.tif"
    subprocess.run(["rawtherapee-cli", "-o", str(out), "-t", "-Y", "-c", str(dng)],
                   check=True, timeout=300, capture_output=True)  # fmt: skip
    return out


READERS = {"dcraw": _dcraw, "darktable-cli": _darktable, "rawtherapee-cli": _rawtherapee}
#: what the readers render: the four phases, a 12-bit source, and a quarter turn
CASES = [(cfa, 16383.0, 0) for cfa in BAYER_LAYOUTS] + [("RGGB", 4095.0, 0), ("GRBG", 16383.0, 6)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{(tool, case): (ours, theirs)}: each tool run once per case for the whole module."""
    results = {}
    for cfa, white, orientation in CASES:
        folder = tmp_path_factory.mktemp(f"{cfa}{int(white)}o{orientation}")
        raw = scene(cfa, white, orientation)
        dng = folder / "ours.dng"
        # uncompressed: RawTherapee 5.9 opens no file under 100,000 bytes, and these flat patches
        # compress to 20 KB; the compressed file renders the same (tested below)
        write_dng(dng, raw, compression="none")
        ours = render(raw, raw.mosaic).astype(np.float64) / 65535.0
        for tool, run in READERS.items():
            if shutil.which(tool.split()[0]):
                results[tool, (cfa, white, orientation)] = (ours, load_rgb(run(dng, folder)))
    return results


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{int(c[1])}-flip{c[2]}")
@pytest.mark.parametrize("tool", list(READERS))
def test_raw_developers_render_our_dng_like_we_do(rendered, tool, case):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")
    ours, theirs = rendered[tool, case]
    assert abs(theirs.shape[0] - ours.shape[0]) <= BORDER and abs(theirs.shape[1] - ours.shape[1]) <= BORDER
    orientation = case[2]
    if orientation == 6:
        assert theirs.shape[0] > theirs.shape[1]  # turned a quarter, like ours
    mine, their = patch_means(ours, orientation), patch_means(theirs, orientation)
    differences = chroma_differences(mine, their)
    print(f"{tool} {case}: largest chroma difference R, G, B {np.abs(differences).max(axis=0).round(3)}")
    assert np.abs(differences).max() < CHROMA_TOLERANCE
    assert their[GREY].mean() > 0.2  # not a black image
    # highlights: the saturated patch is neutral and the brightest one
    assert np.ptp(their[SATURATED]) < 0.05 and their[SATURATED].min() > their[GREY].max()


def test_the_comparison_catches_a_wrong_cfa_phase(tmp_path):
    """The check above can fail: the same mosaic labelled with another phase is caught."""
    if not shutil.which("dcraw"):
        pytest.skip("dcraw is not installed")
    raw = scene("RGGB")
    ours = render(raw, raw.mosaic).astype(np.float64) / 65535.0
    wrong = dataclasses.replace(raw, cfa="GRBG")
    write_dng(tmp_path / "wrong.dng", wrong)
    theirs = load_rgb(_dcraw(tmp_path / "wrong.dng", tmp_path))
    differences = chroma_differences(patch_means(ours), patch_means(theirs))
    assert np.abs(differences).max() > CHROMA_TOLERANCE


@pytest.mark.parametrize("cfa", BAYER_LAYOUTS)
@pytest.mark.parametrize("white", [4095.0, 16383.0])
def test_rawpy_reads_back_cfa_levels_wb_and_values(tmp_path, cfa, white):
    raw = scene(cfa, white)
    write_dng(tmp_path / "out.dng", raw)
    back = read_raw(tmp_path / "out.dng")
    assert back.cfa == cfa and back.white_level == white
    np.testing.assert_allclose(back.black_level, raw.black_level, atol=1e-3)
    np.testing.assert_allclose(back.camera_wb, raw.camera_wb, rtol=1e-4)
    np.testing.assert_array_equal(back.mosaic, raw.mosaic)  # highlights at white kept exactly
    assert (back.mosaic == white).sum() == (raw.mosaic == white).sum() > 0
    np.testing.assert_allclose(back.rgb_from_camera, raw.rgb_from_camera, atol=1e-4)


@pytest.mark.parametrize("flip", [0, 3, 5, 6, 1])
def test_orientation_round_trips(tmp_path, flip):
    write_dng(tmp_path / "out.dng", scene(orientation=flip))
    assert read_raw(tmp_path / "out.dng").orientation == flip


def test_default_crop_is_written_and_read_by_libraw(tmp_path):
    raw = dataclasses.replace(scene(), dng_tags={"DefaultCropOrigin": [6, 4], "DefaultCropSize": [372, 248]})
    write_dng(tmp_path / "out.dng", raw)
    with rawpy.imread(str(tmp_path / "out.dng")) as handle:
        sizes = handle.sizes
        assert (sizes.crop_left_margin, sizes.crop_top_margin) == (6, 4)
        assert (sizes.crop_width, sizes.crop_height) == (372, 248)
    assert read_raw(tmp_path / "out.dng").dng_tags["DefaultCropSize"] == [372, 248]
    cut = dataclasses.replace(raw, mosaic=raw.mosaic[:100, :100])  # a crop that no longer fits: dropped
    write_dng(tmp_path / "cut.dng", cut)
    assert "DefaultCropSize" not in read_raw(tmp_path / "cut.dng").dng_tags


def default_crop(sizes) -> tuple[int, int, int, int]:
    """LibRaw's default crop (x, y, width, height) within the visible area; all of it when none."""
    if not sizes.crop_width:
        return (0, 0, sizes.width, sizes.height)
    x, y = sizes.crop_left_margin - sizes.left_margin, sizes.crop_top_margin - sizes.top_margin
    return (x, y, sizes.crop_width, sizes.crop_height)


REAL = shared_files("", ("*.CR2", "*.DNG", "*.dng"))


@pytest.mark.skipif(not REAL, reason="the shared real raws are absent")
@pytest.mark.parametrize("source", REAL, ids=lambda p: p.name)
def test_a_real_sources_calibration_survives(tmp_path, source):
    """CFA, levels, white balance, LibRaw's matrix, default crop and orientation of a real raw
    (Canon CR2 with a sensor crop, GoPro DNG mirrored, Blackmagic DNG with two illuminants)."""
    raw = read_raw(source)
    write_dng(tmp_path / "out.dng", raw)
    back = read_raw(tmp_path / "out.dng")
    assert (back.cfa, back.white_level, back.orientation) == (raw.cfa, raw.white_level, raw.orientation)
    np.testing.assert_allclose(back.black_level, raw.black_level, atol=1e-3)
    np.testing.assert_allclose(back.camera_wb, raw.camera_wb, rtol=1e-4)
    with rawpy.imread(str(source)) as a, rawpy.imread(str(tmp_path / "out.dng")) as b:
        np.testing.assert_allclose(b.rgb_xyz_matrix, a.rgb_xyz_matrix, atol=1e-4)
        assert default_crop(b.sizes) == default_crop(a.sizes)
    for name in ("ColorMatrix2", "CalibrationIlluminant2", "ForwardMatrix1"):
        if name in raw.dng_tags:
            np.testing.assert_allclose(back.dng_tags[name], raw.dng_tags[name], atol=1e-5)
    assert back.exif == raw.exif and back.iso == raw.iso


@pytest.mark.skipif(not shutil.which("exiftool"), reason="exiftool is not installed")
def test_exiftool_validates_our_dng_and_finds_the_exif(tmp_path):
    raw = dataclasses.replace(scene(), exif={"f_number": 2.8, "focal_length": 24.0, "lens_model": "Test 24mm",
                                             "datetime_original": "2026:01:02 03:04:05"})  # fmt: skip
    write_dng(tmp_path / "out.dng", raw, note="napari-darkvision test")
    check = subprocess.run(["exiftool", "-validate", "-warning", "-a", str(tmp_path / "out.dng")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "Validate                        : OK" in check.stdout, check.stdout
    tags = subprocess.run(["exiftool", "-G1", "-s", "-a", str(tmp_path / "out.dng")],
                          capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    for group, name, value in [("ExifIFD", "ExposureTime", "1/100"), ("ExifIFD", "ISO", "100"),
                               ("ExifIFD", "FNumber", "2.8"), ("ExifIFD", "FocalLength", "24.0 mm"),
                               ("ExifIFD", "LensModel", "Test 24mm"),
                               ("ExifIFD", "DateTimeOriginal", "2026:01:02 03:04:05"),
                               ("IFD0", "Make", "Test"), ("IFD0", "ImageDescription", "napari-darkvision test"),
                               ("IFD0", "WhiteLevel", "16383"), ("IFD0", "CFAPattern2", "0 1 1 2")]:  # fmt: skip
        assert any(line.startswith(f"[{group}]") and f" {name} " in line and line.endswith(value)
                   for line in tags.splitlines()), f"{group}:{name} = {value} missing in\n{tags}"  # fmt: skip


# -- the layout dcraw needs, on the files the command line and the napari writer really write ---------


def _image_data_start(path) -> int:
    with tifffile.TiffFile(path) as tif:
        return min(int(offset) for offset in tif.pages[0].dataoffsets)


def _ifd_ends(path) -> list[int]:
    """Where each IFD (IFD0, EXIF, GPS) and its out-of-line values end, by reading the file."""
    import struct

    data = Path(path).read_bytes()
    (first,) = struct.unpack_from("<I", data, 4)
    ends, queue = [], [first]
    while queue:
        at = queue.pop()
        (count,) = struct.unpack_from("<H", data, at)
        end = at + 2 + 12 * count + 4
        for i in range(count):
            code, kind, n, value = struct.unpack_from("<HHII", data, at + 2 + 12 * i)
            size = n * {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}[kind]
            if code in (34665, 34853):  # the EXIF and GPS IFDs
                queue.append(value)
            if size > 4 and code not in (273, 324):  # image data offsets point past the IFDs
                end = max(end, value + size)
        ends.append(end)
    return ends


def check_layout_and_readers(dng, tmp_path) -> None:
    """IFDs before the image data (none in the last 512 bytes), and dcraw -i, a full dcraw
    decode, exiftool -validate, darktable and RawTherapee accept the file."""
    assert max(_ifd_ends(dng)) <= _image_data_start(dng) < dng.stat().st_size - 512
    if shutil.which("dcraw"):
        info = subprocess.run(["dcraw", "-i", "-v", str(dng)], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0 and "Unexpected end of file" not in info.stderr, info.stderr
        decoded = subprocess.run(["dcraw", "-c", "-4", "-D", str(dng)], capture_output=True, timeout=120)
        assert decoded.returncode == 0 and len(decoded.stdout) > 0, decoded.stderr
    if shutil.which("exiftool"):
        check = subprocess.run(
            ["exiftool", "-validate", "-warning", "-a", str(dng)], capture_output=True, text=True, timeout=60
        )
        assert "Validate                        : OK" in check.stdout, check.stdout
    for tool in ("darktable-cli", "rawtherapee-cli"):
        if shutil.which(tool):
            assert READERS[tool](dng, tmp_path).stat().st_size > 0


@pytest.fixture(scope="module")
def cli_dngs(tmp_path_factory):
    """{compression: path}: the bundled sample enhanced by the command line into a DNG, each way."""
    from helpers import SAMPLE
    from napari_darkvision.cli import main

    folder = tmp_path_factory.mktemp("cli")
    out = {}
    for compression in ("ljpeg", "none"):
        out[compression] = folder / f"sample_{compression}.dng"
        argv = ["enhance", str(SAMPLE), "-o", str(out[compression]), "--ratio", "100", "-q"]
        assert main([*argv, "--dng-compression", compression]) == 0
    return out


@pytest.mark.parametrize("compression", ["ljpeg", "none"])
def test_the_command_lines_dng_opens_in_every_reader(cli_dngs, tmp_path, compression):
    dng = cli_dngs[compression]
    with tifffile.TiffFile(dng) as tif:
        page = tif.pages[0]
        assert page.description.startswith("napari-darkvision ") and "ratio x100" in page.description
        assert page.compression == (7 if compression == "ljpeg" else 1)
    check_layout_and_readers(dng, tmp_path)


def test_the_command_lines_compressed_dng_decodes_like_the_uncompressed_one(cli_dngs, tmp_path):
    with rawpy.imread(str(cli_dngs["ljpeg"])) as a, rawpy.imread(str(cli_dngs["none"])) as b:
        np.testing.assert_array_equal(a.raw_image, b.raw_image)
    assert cli_dngs["ljpeg"].stat().st_size <= 0.7 * cli_dngs["none"].stat().st_size
    for tool, run in READERS.items():
        if not shutil.which(tool):
            continue
        renders = []
        for compression, dng in cli_dngs.items():
            folder = tmp_path / f"{tool}-{compression}"
            folder.mkdir()
            renders.append(tifffile.imread(run(dng, folder)))
        np.testing.assert_array_equal(renders[0], renders[1], err_msg=tool)


def test_the_napari_writers_dngs_open_in_every_reader(cli_dngs, tmp_path):
    """The writer's own path (an enhanced layer's metadata, a raw layer's), with the note and
    EXIF it writes from the source's metadata."""
    from helpers import SAMPLE
    from napari_darkvision.plugin.writer import write_image

    source = read_raw(SAMPLE)
    enhanced = read_raw(cli_dngs["ljpeg"]).mosaic
    layer = {
        "darkvision_result": True,
        "darkvision_source": source.metadata(),
        "darkvision_mosaic": enhanced,
        "model": "fast-aware",
        "model_version": 5,
        "ratio": 100.0,
        "ratio_mode": "manual",
        "stretch": False,
    }
    written = write_image(str(tmp_path / "layer.dng"), np.zeros((8, 8, 3), np.uint16), {"metadata": layer})
    raw_written = write_image(str(tmp_path / "raw.dng"), source.mosaic, {"metadata": source.metadata()})
    for path in (written[0], raw_written[0]):
        with tifffile.TiffFile(path) as tif:
            assert tif.pages[0].compression == 7
        check_layout_and_readers(tmp_path / path, tmp_path)
    with tifffile.TiffFile(written[0]) as tif:
        assert "ratio x100" in tif.pages[0].description
    np.testing.assert_array_equal(read_raw(written[0]).mosaic, enhanced)
    np.testing.assert_array_equal(read_raw(raw_written[0]).mosaic, source.mosaic)


# -- lossless JPEG ----------------------------------------------------------------------------------


def _jpeg_header(tile: bytes) -> tuple[int, int, int, int, int]:
    """(precision, height, width, components, predictor) of a lossless JPEG's SOF3 and SOS."""
    import struct

    assert tile[:2] == b"\xff\xd8"
    sof = tile.index(b"\xff\xc3")
    precision, height, width, components = struct.unpack_from(">BHHB", tile, sof + 4)
    sos = tile.index(b"\xff\xda")
    predictor = tile[sos + 5 + 2 * tile[sos + 4]]
    return precision, height, width, components, predictor


@pytest.mark.parametrize("shape", [SHAPE, (258, 390), (512, 512), (300, 160), (256, 200)])
def test_lossless_jpeg_tiles_are_adobes_layout_and_lossless(tmp_path, shape):
    """Predictor 1 (darktable refuses others), half a tile's width with 2 components, partial
    tiles padded, and tile widths LibRaw reads (512 wide: two tiles of 256 it would misread)."""
    from napari_darkvision.core.dng import TILE, tile_width

    raw = scene(shape=shape)
    raw.mosaic[::7, ::5] += np.uint16(1000)  # detail, so that a wrong prediction would show
    write_dng(tmp_path / "ljpeg.dng", raw)
    write_dng(tmp_path / "none.dng", raw, compression="none")
    side = tile_width(shape[1])
    assert side % 16 == 0 and side <= shape[1] and 2 * side != shape[1]
    with tifffile.TiffFile(tmp_path / "ljpeg.dng") as tif:
        page = tif.pages[0]
        assert (page.compression, page.tilewidth, page.tilelength) == (7, side, TILE)
        tiles = len(page.dataoffsets)
        assert tiles == -(-shape[0] // TILE) * -(-shape[1] // side)
        handle = tif.filehandle
        handle.seek(page.dataoffsets[-1])
        assert _jpeg_header(handle.read(page.databytecounts[-1])) == (16, TILE, side // 2, 2, 1)
    for name in ("ljpeg.dng", "none.dng"):
        with rawpy.imread(str(tmp_path / name)) as handle:
            np.testing.assert_array_equal(handle.raw_image, raw.mosaic)
    if shutil.which("dcraw"):
        decoded = subprocess.run(
            ["dcraw", "-c", "-4", "-D", "-t", "0", str(tmp_path / "ljpeg.dng")],
            capture_output=True,
            timeout=60,
        ).stdout
        pixels = np.frombuffer(decoded.split(b"\n", 3)[3], ">u2").reshape(shape)
        np.testing.assert_array_equal(pixels, raw.mosaic)


def test_the_raw_developers_decode_both_compressions_alike(tmp_path):
    raw = scene("GBRG", shape=(512, 768))
    noise = np.random.default_rng(0).integers(0, 256, raw.mosaic.shape)  # over 100 kB compressed
    raw.mosaic[:] = np.minimum(raw.mosaic + noise, 16383).astype(np.uint16)
    renders = {}
    for compression in ("ljpeg", "none"):
        folder = tmp_path / compression
        folder.mkdir()
        write_dng(folder / "ours.dng", raw, compression=compression)
        for tool, run in READERS.items():
            if shutil.which(tool):
                renders.setdefault(tool, []).append(tifffile.imread(run(folder / "ours.dng", folder)))
    if not renders:
        pytest.skip("no raw developer is installed")
    assert (tmp_path / "ljpeg" / "ours.dng").stat().st_size >= 100_000  # RawTherapee's least
    for tool, (ljpeg, none) in renders.items():
        np.testing.assert_array_equal(ljpeg, none, err_msg=tool)


def test_an_unknown_compression_is_refused_before_writing(tmp_path):
    from napari_darkvision.core.errors import EnhanceError

    with pytest.raises(EnhanceError, match="ljpeg, none"):
        write_dng(tmp_path / "out.dng", scene(), compression="zip")
    assert not (tmp_path / "out.dng").exists()


GOPRO = shared_files("", ("HERO7_GOPR9231.DNG",))
CANON = shared_files("", ("IMG_5952.CR2",))


@pytest.mark.skipif(not GOPRO, reason="the shared 12 MP GoPro DNG is absent")
def test_a_12_mp_dng_is_at_most_0_7_of_its_uncompressed_size(tmp_path):
    raw = read_raw(GOPRO[0])
    assert raw.mosaic.size >= 12e6
    write_dng(tmp_path / "ljpeg.dng", raw)
    write_dng(tmp_path / "none.dng", raw, compression="none")
    ratio = (tmp_path / "ljpeg.dng").stat().st_size / (tmp_path / "none.dng").stat().st_size
    print(f"12 MP GoPro: lossless JPEG {ratio:.3f} of uncompressed")
    assert ratio <= 0.7
    with rawpy.imread(str(tmp_path / "ljpeg.dng")) as a, rawpy.imread(str(tmp_path / "none.dng")) as b:
        np.testing.assert_array_equal(a.raw_image, b.raw_image)


# -- the photo's metadata carried from real sources --------------------------------------------------


def _exiftool(path) -> dict[str, str]:
    """{"Group:Name": value} of every tag exiftool shows (values as printed)."""
    lines = subprocess.run(
        ["exiftool", "-G1", "-s", "-a", "-n", str(path)], capture_output=True, text=True, timeout=60
    ).stdout.splitlines()
    tags = {}
    for line in lines:
        key, _, value = line.partition(":")
        group, _, name = key.strip().partition("]")
        tags.setdefault(f"{group.strip('[ ')}:{name.strip()}", value.strip())
    return tags


@pytest.mark.skipif(not shutil.which("exiftool"), reason="exiftool is not installed")
@pytest.mark.skipif(not GOPRO, reason="the shared GoPro DNG is absent")
def test_exiftool_shows_the_gopros_gps_opcodes_and_serial_in_our_dng(tmp_path):
    write_dng(tmp_path / "out.dng", read_raw(GOPRO[0]), note="napari-darkvision test")
    source, ours = _exiftool(GOPRO[0]), _exiftool(tmp_path / "out.dng")
    gps = {key: value for key, value in source.items() if key.startswith("GPS:")}
    assert len(gps) >= 6 and "GPS:GPSLatitude" in gps
    for key, value in gps.items():
        assert ours.get(key) == value, key
    for key in ("IFD0:OpcodeList2", "IFD0:CameraSerialNumber", "IFD0:OriginalRawFileName"):
        assert ours.get(key) == source[key], key
    check = subprocess.run(
        ["exiftool", "-validate", "-warning", "-a", str(tmp_path / "out.dng")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Validate                        : OK" in check.stdout, check.stdout


@pytest.mark.skipif(not shutil.which("exiftool"), reason="exiftool is not installed")
@pytest.mark.skipif(not CANON, reason="the shared Canon CR2 is absent")
def test_exiftool_shows_the_canons_lens_and_serial_from_its_maker_note(tmp_path):
    write_dng(tmp_path / "out.dng", read_raw(CANON[0]))
    source, ours = _exiftool(CANON[0]), _exiftool(tmp_path / "out.dng")
    assert "ExifIFD:LensModel" not in source  # only the maker note has it
    assert ours["ExifIFD:LensModel"] == source["Canon:LensModel"] == "EF-S18-55mm f/3.5-5.6"
    assert ours["IFD0:CameraSerialNumber"] == source["Canon:SerialNumber"]
    assert ours["IFD0:OriginalRawFileName"] == CANON[0].name


@pytest.mark.skipif(not GOPRO, reason="the shared GoPro DNG is absent")
def test_opcode_lists_are_dropped_from_a_cut_mosaic(tmp_path):
    """A GainMap's area is in the source's pixels: on a region of the mosaic it would be wrong."""
    raw = read_raw(GOPRO[0])
    assert "OpcodeList2" in raw.dng_tags
    cut = dataclasses.replace(raw, mosaic=raw.mosaic[:512, :768])
    write_dng(tmp_path / "cut.dng", cut)
    with tifffile.TiffFile(tmp_path / "cut.dng") as tif:
        assert "OpcodeList2" not in tif.pages[0].tags and "GPSTag" in tif.pages[0].tags


def test_the_tags_we_write_have_tifffiles_names():
    from napari_darkvision.core.tiff_tags import Tag

    for tag in Tag:
        assert tifffile.TIFF.TAGS[int(tag)] == tag.name


def test_every_door_refuses_an_unknown_compression_before_reading(tmp_path):
    """The batch, save_result and the command line check it with core.parameters' one function."""
    from helpers import SAMPLE
    from napari_darkvision import enhance_many
    from napari_darkvision.cli import main
    from napari_darkvision.core.errors import EnhanceError

    with pytest.raises(EnhanceError, match="ljpeg, none"):
        enhance_many([str(SAMPLE)], tmp_path / "out", format="dng", dng_compression="zip")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["enhance", str(SAMPLE), "-o", str(tmp_path / "x.dng"), "--dng-compression", "zip"])
    assert stopped.value.code == 2 and not (tmp_path / "x.dng").exists()

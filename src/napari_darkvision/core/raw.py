"""Camera raw files as linear Bayer mosaics, and packing them to 4 half-resolution channels.

Packed channels are always in colour order R, G1, B, G2 (G1 shares a row with R, G2 with B),
whatever the 2x2 phase of the sensor, so the network sees the same colours in the same place
for RGGB, BGGR, GRBG and GBRG cameras alike.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import MissingInputError, RawReadError
from .tiff_tags import camera_and_exposure, check_data_declared

#: Extensions of the Bayer raw formats LibRaw reads (lower case, no dot).
RAW_EXTENSIONS = tuple(
    [
        "3fr",
        "ari",
        "arw",
        "bay",
        "cap",
        "cr2",
        "cr3",
        "crw",
        "dcr",
        "dcs",
        "dng",
        "drf",
        "eip",
        "erf",
        "fff",
        "iiq",
        "k25",
        "kdc",
        "mdc",
        "mef",
        "mos",
        "mrw",
        "nef",
        "nrw",
        "orf",
        "pef",
        "ptx",
        "pxn",
        "r3d",
        "raf",
        "raw",
        "rw2",
        "rwl",
        "rwz",
        "sr2",
        "srf",
        "srw",
        "x3f",
    ]
)

#: The 2x2 layouts we accept, named by their colours read left-to-right, top-to-bottom.
BAYER_LAYOUTS = ("RGGB", "BGGR", "GRBG", "GBRG")

#: sRGB (D65) -> XYZ, IEC 61966-2-1.
XYZ_FROM_SRGB = np.array(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip


@dataclass
class RawImage:
    """A Bayer mosaic as recorded, with what is needed to normalise and render it."""

    mosaic: np.ndarray  # (H, W) uint16, the visible sensor area as recorded
    cfa: str  # one of BAYER_LAYOUTS, for the top-left 2x2 of `mosaic`
    black_level: tuple[float, float, float, float]  # per packed channel R, G1, B, G2
    white_level: float
    camera_wb: tuple[float, float, float, float]  # multipliers R, G1, B, G2 (G1 == 1)
    rgb_from_camera: np.ndarray = field(default_factory=lambda: np.eye(3))  # 3x3, camera -> sRGB
    iso: float = 0.0
    exposure_time: float = 0.0
    make: str = ""
    model: str = ""
    path: str = ""
    #: LibRaw's ``sizes.flip`` (dcraw's code: 0 none, 3 180 degrees, 5 and 6 quarter turns, 1, 2, 4, 7
    #: mirrored); carried so that every render path, a temporary DNG included, turns the image alike.
    orientation: int = 0
    #: the camera's lens, f-number, focal length, capture time (see :mod:`.metadata`)
    exif: dict = field(default_factory=dict)
    #: the source's colour calibration and default crop, by DNG tag name (see :mod:`.metadata`)
    dng_tags: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mosaic.shape

    def metadata(self) -> dict:
        """Everything but the pixels, as plain Python values (napari layer metadata)."""
        meta = asdict(self)
        del meta["mosaic"]
        meta["rgb_from_camera"] = np.asarray(self.rgb_from_camera).tolist()
        meta["darkvision_raw"] = True
        return meta

    @classmethod
    def from_metadata(cls, mosaic: np.ndarray, meta: dict) -> RawImage:
        """Rebuild from a mosaic and the dict made by :meth:`metadata`."""
        if not meta.get("darkvision_raw"):
            raise RawReadError(
                "This layer carries no raw metadata: open the raw file with the "
                "napari-darkvision reader (File > Open with plugin > napari-darkvision)."
            )
        names = {f for f in cls.__dataclass_fields__ if f != "mosaic"}
        kwargs = {k: v for k, v in meta.items() if k in names}
        missing = {"cfa", "black_level", "white_level", "camera_wb"} - set(kwargs)
        if missing:
            raise RawReadError(
                f"This layer's raw metadata lacks {', '.join(sorted(missing))}: open the file again."
            )
        kwargs.setdefault("rgb_from_camera", np.eye(3))
        for text in ("make", "model", "path"):
            kwargs[text] = str(kwargs.get(text) or "")
        kwargs["orientation"] = kwargs.get("orientation", 0)
        return validate_raw(cls(mosaic=mosaic, **kwargs))


def bayer_layout(raw_pattern, color_desc: bytes) -> str:
    """The 2x2 Bayer layout ("RGGB", ...) of LibRaw's colour pattern; RawReadError for X-Trans
    (a 6x6 pattern), CMYG and other non-Bayer filters, and monochrome sensors (no pattern)."""
    if raw_pattern is None:
        raise RawReadError("it has no colour filter array (a monochrome or demosaiced raw)")
    pattern = np.asarray(raw_pattern)
    letters = color_desc.decode("ascii", "replace")
    if pattern.shape == (6, 6):
        raise RawReadError("it has a 6x6 X-Trans colour filter (Fujifilm), not a 2x2 Bayer mosaic")
    try:
        name = "".join(letters[int(i)] for i in pattern[:2, :2].ravel())
    except IndexError:
        name = "?"
    if pattern.shape != (2, 2) or name not in BAYER_LAYOUTS:
        raise RawReadError(
            f"its colour filter pattern is {name!r} ({pattern.shape[0]}x{pattern.shape[1]}), not a 2x2 Bayer mosaic"
        )
    return name


def channel_positions(cfa: str) -> list[tuple[int, int]]:
    """Offsets (row, col) of R, G1, B, G2 inside the 2x2 tile of `cfa`."""
    cells = [(0, 0), (0, 1), (1, 0), (1, 1)]
    red = cells[cfa.index("R")]
    blue = cells[cfa.index("B")]
    green_with_red = (red[0], 1 - red[1])
    green_with_blue = (blue[0], 1 - blue[1])
    return [red, green_with_red, blue, green_with_blue]


def rgb_from_camera_matrix(rgb_cam: np.ndarray | None, cam_xyz: np.ndarray | None) -> np.ndarray:
    """The camera -> linear sRGB matrix, from LibRaw's ``rgb_cam`` or its ``cam_xyz``."""
    if rgb_cam is not None and np.abs(np.asarray(rgb_cam)[:3, :3]).sum() > 0:
        return np.asarray(rgb_cam, dtype=np.float64)[:3, :3]
    if cam_xyz is not None and np.abs(np.asarray(cam_xyz)[:3, :3]).sum() > 0:
        cam_from_srgb = np.asarray(cam_xyz, dtype=np.float64)[:3, :3] @ XYZ_FROM_SRGB
        # rows sum to one so that a white (1, 1, 1) sRGB maps to camera white (dcraw's convention)
        cam_from_srgb /= cam_from_srgb.sum(axis=1, keepdims=True)
        return np.linalg.inv(cam_from_srgb)
    return np.eye(3)


def read_raw(path: str | os.PathLike) -> RawImage:
    """Read a Bayer camera raw file with LibRaw.

    Parameters
    ----------
    path
        A camera raw file (ARW, NEF, CR2, DNG, RAF, ORF, RW2, ...: :data:`RAW_EXTENSIONS`).

    Returns
    -------
    RawImage
        The visible mosaic as recorded, its levels, white balance (G1 = 1), colour matrix,
        orientation and the photo's metadata.

    Raises
    ------
    MissingInputError
        Where there is no file at `path` (or a folder).
    RawReadError
        Where the file is not a 2x2 Bayer raw LibRaw can read, or holds no usable image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a folder, not a raw file" if os.path.isdir(path) else "does not exist"
        raise MissingInputError(f"{path} {what}.")
    name = os.path.basename(path)
    raw = _read_with_libraw(path, name)
    check_data_declared(path, name)
    _check_plausible(raw.mosaic, raw.black_level, raw.white_level, name)
    raw.camera_wb = _normalised_wb(raw.camera_wb)
    return raw


def _read_with_libraw(path: str, name: str) -> RawImage:
    """The raw as LibRaw and the file's tags give it (the camera's white balance as recorded);
    :class:`RawReadError`, for a person, where LibRaw cannot read the file."""
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            return _from_libraw(raw, path, name)
    except RawReadError:
        raise
    except rawpy.LibRawError as err:
        raise RawReadError(
            f"LibRaw cannot read {name}: it is not a supported camera raw file "
            f"or it is damaged ({type(err).__name__}: {err})."
        ) from err
    except (OSError, ValueError) as err:
        raise RawReadError(f"Cannot read {name}: {err}") from err


def _from_libraw(raw, path: str, name: str) -> RawImage:
    """An open rawpy image as a RawImage, levels and white balance in packed order R, G1, B, G2."""
    from .metadata import read_dng_tags, read_exif

    cfa = bayer_cfa(raw, name)
    pattern = np.asarray(raw.raw_pattern)[:2, :2]
    positions = channel_positions(cfa)
    wb_index = list(raw.camera_whitebalance)
    if wb_index[3] == 0:
        wb_index[3] = wb_index[1]
    iso, exposure, make, model = camera_and_exposure(raw, path)
    return RawImage(
        mosaic=np.array(raw.raw_image_visible, dtype=np.uint16, copy=True),
        cfa=cfa,
        black_level=_in_packed_order(raw.black_level_per_channel, pattern, positions),
        white_level=float(raw.white_level),
        camera_wb=_in_packed_order(wb_index, pattern, positions),
        rgb_from_camera=rgb_from_camera_matrix(raw.color_matrix, raw.rgb_xyz_matrix),
        iso=iso,
        exposure_time=exposure,
        make=make,
        model=model,
        path=os.path.abspath(path),
        orientation=int(raw.sizes.flip),
        exif=read_exif(raw, path),
        dng_tags=read_dng_tags(raw, path),
    )


def bayer_cfa(raw, name: str) -> str:
    """The 2x2 layout of an open rawpy image; RawReadError, for a person, for any other sensor."""
    import rawpy

    if raw.raw_type != rawpy.RawType.Flat or raw.raw_pattern is None:
        raise RawReadError(
            f"{name} is not a Bayer mosaic ({raw.raw_type.name} raw, "
            "e.g. a film scan, X-Trans, Foveon, monochrome or an already demosaiced "
            "file): napari-darkvision only supports Bayer sensors."
        )
    try:
        return bayer_layout(raw.raw_pattern, raw.color_desc)
    except RawReadError as err:
        raise RawReadError(
            f"{name} is not supported: {err}. napari-darkvision works on "
            f"2x2 Bayer sensors ({', '.join(BAYER_LAYOUTS)})."
        ) from None


def _in_packed_order(per_index, pattern: np.ndarray, positions) -> tuple[float, ...]:
    """LibRaw's per-colour-index values (black levels, white balance) for R, G1, B, G2."""
    return tuple(float(per_index[int(pattern[r, c])]) for r, c in positions)


def _normalised_wb(wb: tuple[float, ...]) -> tuple[float, ...]:
    """White balance multipliers with G1 = 1 (a daylight guess where the camera's are unusable)."""
    if wb[1] <= 0 or min(wb) <= 0:
        wb = (2.0, 1.0, 1.6, 1.0)
    return tuple(w / wb[1] for w in wb)


#: LibRaw renders nothing smaller (it needs 22 pixels a side); a margin for demosaicing.
MIN_SIDE = 32


def _check_plausible(mosaic: np.ndarray, black, white: float, name: str) -> None:
    if mosaic.ndim != 2 or min(mosaic.shape) < MIN_SIDE:
        raise RawReadError(f"{name} holds no usable image ({'x'.join(map(str, mosaic.shape))} pixels).")
    if max(black) >= white:
        raise RawReadError(
            f"{name} has a black level ({max(black):g}) at or above its white level ({white:g}): "
            "its metadata is damaged."
        )
    if np.count_nonzero(mosaic[::4, ::4]) < 0.01 * mosaic[::4, ::4].size:
        raise RawReadError(
            f"{name} has no image data (its pixels are all zero): the file is truncated "
            "or holds metadata only."
        )


def _numbers(value, count: int, what: str, name: str) -> tuple[float, ...]:
    try:
        numbers = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise RawReadError(f"{name}: {what} must be {count} numbers, not {value!r}.") from None
    if numbers.size != count or not np.isfinite(numbers).all():
        raise RawReadError(f"{name}: {what} must be {count} finite numbers, not {value!r}.")
    return tuple(float(v) for v in numbers)


def validate_raw(raw: RawImage) -> RawImage:
    """Check a RawImage once, however it was made (read, rebuilt from a layer, or by hand), and
    return it with plain, typed values; :class:`RawReadError` saying what is wrong otherwise."""
    name = os.path.basename(raw.path) if raw.path else "this raw image"
    mosaic = np.asarray(raw.mosaic)
    if mosaic.dtype.kind not in "ui" or mosaic.dtype.itemsize < 2:
        kind = "8-bit" if mosaic.dtype.itemsize == 1 and mosaic.dtype.kind in "ui" else str(mosaic.dtype)
        raise RawReadError(
            f"{name}: the mosaic holds {kind} values, not a camera's raw counts (16-bit integers)."
        )
    if mosaic.ndim != 2:
        raise RawReadError(f"{name}: the mosaic must be 2-D (one Bayer plane), not of shape {mosaic.shape}.")
    if mosaic.size and (mosaic.min() < 0 or mosaic.max() > 65535):
        raise RawReadError(f"{name}: raw values must lie in 0..65535.")
    if raw.cfa not in BAYER_LAYOUTS:
        raise RawReadError(
            f"{name}: the colour filter layout must be one of {', '.join(BAYER_LAYOUTS)}, not {raw.cfa!r}."
        )
    black = _numbers(raw.black_level, 4, "the black levels (R, G1, B, G2)", name)
    (white,) = _numbers(raw.white_level, 1, "the white level", name)
    if min(black) < 0 or white > 65535:
        raise RawReadError(f"{name}: black levels must be at least 0 and the white level at most 65535.")
    wb = _numbers(raw.camera_wb, 4, "the white balance (R, G1, B, G2)", name)
    if min(wb) <= 0:
        raise RawReadError(f"{name}: white balance multipliers must be positive, not {raw.camera_wb!r}.")
    try:
        matrix = np.asarray(raw.rgb_from_camera, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = np.full(1, np.nan)
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise RawReadError(f"{name}: the colour matrix must be 3x3 finite numbers.")
    iso, exposure = _numbers([raw.iso or 0, raw.exposure_time or 0], 2, "ISO and exposure time", name)
    if raw.orientation not in (0, 1, 2, 3, 4, 5, 6, 7):
        raise RawReadError(
            f"{name}: orientation must be one of LibRaw's flip codes 0-7, not {raw.orientation!r}."
        )
    _check_plausible(mosaic, black, white, name)
    return dataclasses.replace(
        raw,
        mosaic=mosaic.astype(np.uint16, copy=False),
        black_level=black,
        white_level=white,
        camera_wb=wb,
        rgb_from_camera=matrix,
        iso=iso,
        exposure_time=exposure,
    )


def even_crop(mosaic: np.ndarray) -> np.ndarray:
    h, w = mosaic.shape[-2:]
    return mosaic[..., : h - h % 2, : w - w % 2]


def pack(raw: RawImage, ratio: float = 1.0, clip: bool = True) -> np.ndarray:
    """(H, W) mosaic -> (4, H/2, W/2) float32: black-subtracted, /(white-black), x ratio, <= 1.

    Values below the black level stay negative (not clipped at 0), so the mean of a dark region
    stays unbiased; SID clips at 0, which brightens shadows.
    """
    mosaic = even_crop(raw.mosaic)
    out = np.empty((4, mosaic.shape[0] // 2, mosaic.shape[1] // 2), dtype=np.float32)
    for channel, (r, c) in enumerate(channel_positions(raw.cfa)):
        black = raw.black_level[channel]
        scale = ratio / (raw.white_level - black)
        np.subtract(mosaic[r::2, c::2], black, out=out[channel], dtype=np.float32)
        out[channel] *= scale
    if clip:
        np.minimum(out, 1.0, out=out)
    return out


def unpack(packed: np.ndarray, raw: RawImage) -> np.ndarray:
    """(4, H/2, W/2) in [0, 1] -> a uint16 mosaic the shape of ``raw.mosaic`` (the inverse of
    :func:`pack` at ratio 1); an odd last row or column keeps the recorded values."""
    mosaic = raw.mosaic.copy()
    rows, cols = packed.shape[1:]
    values = np.empty((rows, cols), dtype=np.float32)  # one buffer, reused for every channel
    for channel, (r, c) in enumerate(channel_positions(raw.cfa)):
        black = raw.black_level[channel]
        np.clip(packed[channel], 0.0, 1.0, out=values)
        values *= raw.white_level - black
        values += black
        np.rint(values, out=values)
        mosaic[r : 2 * rows : 2, c : 2 * cols : 2] = values
    return mosaic


def mosaic_from_packed(packed: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """(4, h, w) R, G1, B, G2 -> (2h, 2w) mosaic in layout `cfa`, same dtype (no scaling)."""
    _, h, w = packed.shape
    mosaic = np.empty((2 * h, 2 * w), dtype=packed.dtype)
    for channel, (r, c) in enumerate(channel_positions(cfa)):
        mosaic[r::2, c::2] = packed[channel]
    return mosaic

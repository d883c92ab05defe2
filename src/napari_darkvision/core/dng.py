"""Write a Bayer mosaic as a minimal DNG that LibRaw reads back with its metadata.

Used to render mosaics that have no source file through LibRaw, to write the bundled sample,
and to make test and benchmark files. Tags follow the DNG 1.4 specification.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from .raw import XYZ_FROM_SRGB, RawImage, channel_positions

_CFA_CODES = {"R": 0, "G": 1, "B": 2}
#: LibRaw's flip code -> the TIFF Orientation tag that LibRaw reads back as that code.
TIFF_ORIENTATION_FROM_FLIP = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}


def _rationals(values, denominator: int = 10000) -> list[int]:
    flat = []
    for v in np.ravel(values):
        f = Fraction(float(v)).limit_denominator(denominator)
        flat += [f.numerator, f.denominator]
    return flat


def write_dng(path: str | os.PathLike, raw: RawImage) -> None:
    """Write ``raw.mosaic`` (uint16) and its levels, CFA, white balance and colour matrix.

    Uncompressed: LibRaw reads no deflate-compressed integer DNG."""
    import tifffile

    mosaic = np.ascontiguousarray(raw.mosaic, dtype=np.uint16)
    positions = channel_positions(raw.cfa)
    black_by_cell = [0.0] * 4
    for channel, (r, c) in enumerate(positions):
        black_by_cell[2 * r + c] = raw.black_level[channel]
    camera_to_xyz = XYZ_FROM_SRGB @ np.asarray(raw.rgb_from_camera, dtype=np.float64)
    xyz_to_camera = np.linalg.inv(camera_to_xyz)
    wb = np.asarray(raw.camera_wb, dtype=np.float64)
    as_shot_neutral = 1.0 / wb[[0, 1, 2]]
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, tuple(_CFA_CODES[ch] for ch in raw.cfa), True),  # CFAPattern
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{raw.make} {raw.model}".strip() or "napari-darkvision", True),
        (50713, "H", 2, (2, 2), True),  # BlackLevelRepeatDim
        (50714, "2I", 4, _rationals(black_by_cell), True),  # BlackLevel (RATIONAL)
        (50717, "I", 1, int(raw.white_level), True),  # WhiteLevel
        (50721, "2i", 9, _rationals(xyz_to_camera), True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 = D65
        (50728, "2I", 3, _rationals(as_shot_neutral), True),  # AsShotNeutral
        (271, "s", 0, raw.make or "napari-darkvision", True),  # Make
        (272, "s", 0, raw.model or "synthetic", True),  # Model
        (274, "H", 1, TIFF_ORIENTATION_FROM_FLIP.get(int(raw.orientation), 1), True),  # Orientation
    ]
    if raw.exposure_time > 0:
        tags.append((33434, "2I", 1, _rationals(raw.exposure_time, denominator=1000000), True))
    if raw.iso > 0:
        tags.append((34855, "H", 1, int(round(raw.iso)), True))  # ISOSpeedRatings
    tifffile.imwrite(
        os.fspath(path),
        mosaic,
        photometric=32803,  # CFA
        subfiletype=0,
        extratags=tags,
        metadata=None,
    )

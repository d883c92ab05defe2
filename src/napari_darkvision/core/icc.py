"""The sRGB ICC profile that rendered TIFFs embed (tag 34675), made here from the standard's
numbers (IEC 61966-2-1: the primaries, the D65 white, the tone curve) so that no colour library
is needed at run time.

An ICC version 2.1 display profile of the matrix/TRC kind: the three colorants adapted from D65
to the profile connection space's D50 with the Bradford transform (as the ICC specifies and as
the widespread sRGB profiles do), a D50 media white point, and one 1024-entry tone curve shared
by the three channels. It is our own work, placed in the public domain like the numbers it holds.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

#: xy chromaticities of sRGB's red, green and blue primaries and of its white, D65.
SRGB_PRIMARIES_XY = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
D65_XY = (0.3127, 0.3290)
#: The ICC profile connection space's illuminant, D50, as the ICC specification writes it.
D50_XYZ = (0.9642, 1.0, 0.8249)
#: Bradford's cone response matrix (XYZ -> "sharpened" LMS).
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
CURVE_POINTS = 1024
DESCRIPTION = "sRGB IEC61966-2-1 (napari-darkvision)"
COPYRIGHT = "Public domain: no copyright, use freely"


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def srgb_colorants_d50() -> np.ndarray:
    """(3, 3): the XYZ of the red, green and blue colorants (columns), adapted to D50."""
    primaries = np.stack([_xyz(xy) for xy in SRGB_PRIMARIES_XY], axis=1)
    white = _xyz(D65_XY)
    xyz_from_rgb = primaries * np.linalg.solve(primaries, white)  # each primary scaled: white is 1, 1, 1
    cone_gain = (BRADFORD @ np.asarray(D50_XYZ)) / (BRADFORD @ white)
    adapt = np.linalg.inv(BRADFORD) @ np.diag(cone_gain) @ BRADFORD
    return adapt @ xyz_from_rgb


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (the inverse of ``render.srgb_curve``)."""
    v = np.clip(encoded, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _s15fixed16(values) -> bytes:
    return b"".join(struct.pack(">i", int(round(v * 65536))) for v in values)


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + _s15fixed16(xyz)


def _text_description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # ASCII part, then empty Unicode (language 0, count 0) and ScriptCode (code 0, count 0, 67 bytes)
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + bytes(67)
    )


def _curve() -> bytes:
    linear = srgb_decode(np.linspace(0.0, 1.0, CURVE_POINTS))
    table = np.round(linear * 65535).astype(">u2").tobytes()
    return b"curv\0\0\0\0" + struct.pack(">I", CURVE_POINTS) + table


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The bytes of the sRGB ICC profile (deterministic: the same bytes on every run)."""
    colorants = srgb_colorants_d50()
    curve = _curve()
    tags = [
        (b"desc", _text_description(DESCRIPTION)),
        (b"cprt", b"text\0\0\0\0" + COPYRIGHT.encode("ascii") + b"\0"),
        (b"wtpt", _xyz_tag(D50_XYZ)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),  # the same bytes: written once, pointed at three times
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, body, placed = [], b"", {}
    for signature, data in tags:
        if data not in placed:
            placed[data] = offset + len(body)
            body += data + bytes(-len(data) % 4)  # each tag starts on a 4-byte boundary
        entries.append(struct.pack(">4sII", signature, placed[data], len(data)))
    size = offset + len(body)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)  # a fixed creation date, for the same bytes
        + b"acsp"
        + bytes(4)
        + struct.pack(">I", 0)
        + bytes(8)
        + bytes(8)
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + _s15fixed16(D50_XYZ)
        + bytes(4)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + body

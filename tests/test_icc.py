"""The sRGB ICC profile we make (core/icc.py): what the standard says, in bytes Little CMS reads."""

import io

import numpy as np
import pytest

from napari_darkvision.core.icc import D50_XYZ, srgb_colorants_d50, srgb_decode, srgb_profile
from napari_darkvision.core.render import srgb_curve


def test_the_colorants_are_srgbs_adapted_to_d50():
    colorants = srgb_colorants_d50()
    np.testing.assert_allclose(colorants.sum(axis=1), D50_XYZ, atol=1e-4)  # white maps to D50
    # the values of the ICC's own sRGB profiles (e.g. sRGB IEC61966-2.1, Bradford-adapted)
    np.testing.assert_allclose(colorants[:, 0], (0.4361, 0.2225, 0.0139), atol=2e-4)
    np.testing.assert_allclose(colorants[:, 1], (0.3851, 0.7169, 0.0971), atol=2e-4)
    np.testing.assert_allclose(colorants[:, 2], (0.1431, 0.0606, 0.7141), atol=3e-4)


def test_the_profiles_curve_undoes_the_renderers():
    encoded = np.linspace(0.0, 1.0, 4097)
    np.testing.assert_allclose(srgb_curve(srgb_decode(encoded)), encoded, atol=1e-5)
    profile = srgb_profile()
    at = profile.index(b"curv")
    count = int.from_bytes(profile[at + 8 : at + 12], "big")
    table = np.frombuffer(profile[at + 12 : at + 12 + 2 * count], ">u2") / 65535
    np.testing.assert_allclose(table, srgb_decode(np.linspace(0, 1, count)), atol=1e-5)


def test_little_cms_reads_it_as_srgb():
    ImageCms = pytest.importorskip("PIL.ImageCms")
    from PIL import Image

    profile = ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile()))
    assert ImageCms.getProfileDescription(profile).strip() == "sRGB IEC61966-2-1 (napari-darkvision)"
    ramp = np.linspace(0, 255, 256).astype(np.uint8)
    pixels = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.tile(ramp[:, None], (1, 256))], axis=-1)
    to_srgb = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(pixels), to_srgb)).astype(int)
    assert np.abs(out - pixels).max() <= 1
    # the check can fail: a profile with BT.709's curve does not pass it
    bt709 = np.where(np.linspace(0, 1, 1024) < 0.081, np.linspace(0, 1, 1024) / 4.5,
                     ((np.linspace(0, 1, 1024) + 0.099) / 1.099) ** (1 / 0.45))  # fmt: skip
    changed = srgb_profile().replace(_curve_table(), np.round(bt709 * 65535).astype(">u2").tobytes())
    other = ImageCms.ImageCmsProfile(io.BytesIO(changed))
    to_srgb = ImageCms.buildTransform(other, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    assert (
        np.abs(
            np.asarray(ImageCms.applyTransform(Image.fromarray(pixels), to_srgb)).astype(int) - pixels
        ).max()
        > 5
    )


def _curve_table() -> bytes:
    profile = srgb_profile()
    at = profile.index(b"curv")
    return profile[at + 12 : at + 12 + 2 * 1024]


def test_the_bytes_are_the_same_every_time():
    from napari_darkvision.core import icc

    first = srgb_profile()
    icc.srgb_profile.cache_clear()
    assert srgb_profile() == first and len(first) == int.from_bytes(first[:4], "big")

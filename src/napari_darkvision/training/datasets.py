"""Where clean and dark images come from: photo folders (synthetic pairs), folders of real raw
long exposures (darkened synthetically), and SID-format list files of real short/long pairs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.raw import RawImage, pack, read_raw
from .defects import SensorDefects
from .noise_model import NoiseModel
from .synth import Pair, make_pair
from .unprocess import CameraLook, random_look, unprocess

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
#: SID caps its exposure ratios at 300.
SID_MAX_RATIO = 300.0


def list_photos(folder: str | os.PathLike) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_EXTENSIONS)


def split_photos(paths: list[Path], every: int = 10) -> tuple[list[Path], list[Path]]:
    """Fixed train/validation split by file: every `every`-th file (sorted by name) validates."""
    val = [p for i, p in enumerate(paths) if i % every == every // 2]
    train = [p for p in paths if p not in val]
    return train, val


def load_photo(path: Path) -> np.ndarray:
    """Decode to (H, W, 3) uint8."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class PairSource:
    """A source of random training pairs: ``sample(rng)`` gives one :class:`Pair`."""

    def sample(self, rng: np.random.Generator) -> Pair:
        raise NotImplementedError

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(noisy, clean) stacked to (size, 4, h, w), and each pair's (3, 4) rendering matrix."""
        pairs = [self.sample(rng) for _ in range(size)]
        looks = np.stack([p.look.packed_to_rgb() for p in pairs])
        return np.stack([p.noisy for p in pairs]), np.stack([p.clean for p in pairs]), looks


class PhotoPairs(PairSource):
    """Random synthetic training pairs from clean photos (decoded once, kept in memory).

    Most of a wallpaper is sky and gradients: crops drawn uniformly taught every network to
    blur texture, even in clean input. So half the crops are the most detailed of
    `candidates` random ones, and half are taken from the photo shrunk by up to 2x, which
    packs more detail into each pixel.

    `defects` is the fraction of pairs whose sensor has defects (hot and stuck pixels, column
    banding, a 12-bit converter: :meth:`.defects.SensorDefects.random`)."""

    def __init__(
        self,
        paths: list[Path],
        noise_model: NoiseModel,
        crop: int = 256,
        candidates: int = 4,
        defects: float = 0.0,
    ):
        if not 0.0 <= defects <= 1.0:
            raise ValueError(f"defects is a fraction of the pairs, 0 to 1, not {defects}")
        self.images = [load_photo(p) for p in paths]
        self.names = [p.name for p in paths]
        self.noise_model = noise_model
        self.crop = crop
        self.candidates = candidates
        self.defects = defects

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        c = self.crop
        shrink = float(np.exp(rng.uniform(0.0, np.log(2.0)))) if rng.uniform() < 0.5 else 1.0
        side = min(int(round(c * shrink)), h, w)
        corners = [
            (rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)) for _ in range(self.candidates)
        ]
        if rng.uniform() < 0.5:
            corners.sort(key=lambda yx: -_detail(image[yx[0] : yx[0] + side : 2, yx[1] : yx[1] + side : 2]))
        y, x = corners[0]
        region = image[y : y + side, x : x + side]
        if side != c:
            from PIL import Image

            region = np.asarray(Image.fromarray(region).resize((c, c), Image.Resampling.BOX))
        return region

    def sample(self, rng: np.random.Generator) -> Pair:
        image = self.images[rng.integers(len(self.images))]
        rgb = self._crop(image, rng).astype(np.float32) / 255.0
        if rng.uniform() < 0.5:
            rgb = rgb[:, ::-1]
        look = random_look(rng)
        sensor = None
        if self.defects and rng.uniform() < self.defects:
            sensor = SensorDefects.random(rng)
        return make_pair(unprocess(rgb, look), look, self.noise_model, rng, defects=sensor)


def _detail(rgb: np.ndarray) -> float:
    """Mean absolute Laplacian of the green channel: how much fine texture a crop holds."""
    g = rgb[..., 1].astype(np.float32)
    return float(np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]).mean())


class RawPairs(PairSource):
    """Random synthetic pairs from real raw long exposures: no unprocessing needed."""

    def __init__(self, paths: list[Path], noise_model: NoiseModel, crop: int = 256):
        self.raws = [read_raw(p) for p in paths]
        self.packed = [np.clip(pack(r), 0.0, 1.0) for r in self.raws]
        self.noise_model = noise_model
        self.crop = crop // 2

    def sample(self, rng: np.random.Generator) -> Pair:
        i = rng.integers(len(self.raws))
        clean, raw = self.packed[i], self.raws[i]
        _, h, w = clean.shape
        c = self.crop
        y, x = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
        return make_pair(clean[:, y : y + c, x : x + c], look_of(raw), self.noise_model, rng)


def look_of(raw: RawImage) -> CameraLook:
    return CameraLook(np.asarray(raw.camera_wb, dtype=np.float64), np.asarray(raw.rgb_from_camera), 1.0)


# --- fixed validation sets -------------------------------------------------------------------


@dataclass
class ValItem:
    name: str
    pair: Pair


def photo_validation(
    paths: list[Path],
    noise_model: NoiseModel,
    ratios=(100, 250, 300),
    crop: int = 512,
    seed: int = 1234,
    camera: str = "SonyA7S2",
) -> list[ValItem]:
    """Centre crops of validation photos, darkened by each ratio with the SID camera's noise."""
    items = []
    for i, path in enumerate(paths):
        image = load_photo(path)
        h, w = image.shape[:2]
        c = min(crop, h // 2 * 2, w // 2 * 2)
        y, x = (h - c) // 2, (w - c) // 2
        rgb = image[y : y + c, x : x + c].astype(np.float32) / 255.0
        rng = np.random.default_rng([seed, i])
        look = random_look(rng)
        items += _darkened(path.stem, unprocess(rgb, look), look, noise_model, rng, ratios, camera)
    return items


def raw_validation(
    paths: list[Path],
    noise_model: NoiseModel,
    ratios=(100, 250, 300),
    crop: int = 1024,
    seed: int = 4321,
    camera: str = "SonyA7S2",
) -> list[ValItem]:
    """Centre crops of real raw files (well exposed: the long exposure), darkened by each ratio."""
    items = []
    for i, path in enumerate(paths):
        raw = read_raw(path)
        clean = np.clip(pack(raw), 0.0, 1.0)
        _, h, w = clean.shape
        c = min(crop // 2, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        clean = np.ascontiguousarray(clean[:, y : y + c, x : x + c])
        rng = np.random.default_rng([seed, i])
        items += _darkened(Path(path).stem, clean, look_of(raw), noise_model, rng, ratios, camera)
    return items


#: ELD's calibrated cameras other than the SID Sony (the only camera the validation sets use):
#: the held-out sets' noise, one camera after the other.
HELD_OUT_CAMERAS = ("CanonEOS5D4", "CanonEOS700D", "CanonEOS70D", "NikonD850")
#: Held-out crops keep this far from the frame's edges (sensor pixels for raws, pixels for photos).
HELD_OUT_MARGIN = 64


def _corner(h: int, w: int, crop: int, corner: int, margin: int) -> tuple[int, int]:
    """The top-left (y, x) of a `crop` square near corner 0 (top left), 1 (top right), 2 (bottom
    right) or 3 (bottom left), `margin` from the edges where the frame allows (even, for Bayer)."""
    margin_y, margin_x = min(margin, (h - crop) // 2), min(margin, (w - crop) // 2)
    y = margin_y if corner in (0, 1) else h - crop - margin_y
    x = margin_x if corner in (0, 3) else w - crop - margin_x
    return y // 2 * 2, x // 2 * 2


def held_out_photos(
    paths: list[Path], noise_model: NoiseModel, ratios=(100, 250, 300), crop: int = 384, seed: int = 2468
) -> list[ValItem]:
    """Validation photos at a corner crop (photo i at corner i mod 4, 64 px from the edges), darkened
    with the noise of ELD's cameras other than the SID Sony, with their own random looks.

    Nothing was trained on these photos (the split is by file) and nothing was tuned to these crops
    or this noise: validation takes centre crops of at most 512 px with the Sony's noise, which on
    these 1600 px wide photos never overlap a corner crop of up to 480 px."""
    items = []
    for i, path in enumerate(paths):
        image = load_photo(path)
        h, w = image.shape[:2]
        c = min(crop, h // 2 * 2, w // 2 * 2)
        y, x = _corner(h, w, c, i % 4, HELD_OUT_MARGIN)
        rgb = image[y : y + c, x : x + c].astype(np.float32) / 255.0
        rng = np.random.default_rng([seed, i])
        look = random_look(rng)
        items += _darkened_by_cameras(
            f"{path.stem}@corner{i % 4}", unprocess(rgb, look), look, noise_model, rng, ratios, i
        )
    return items


def held_out_raws(
    paths: list[Path], noise_model: NoiseModel, ratios=(100, 250, 300), crop: int = 512, seed: int = 8642
) -> list[ValItem]:
    """Two corner crops (top left, bottom right; 64 sensor pixels from the edges) of each real raw,
    darkened with the noise of ELD's cameras other than the SID Sony: :func:`raw_validation` takes
    their centre crop of at most 1024 sensor pixels with the Sony's noise instead."""
    items = []
    for i, path in enumerate(paths):
        raw = read_raw(path)
        packed = np.clip(pack(raw), 0.0, 1.0)
        _, h, w = packed.shape
        c = min(crop // 2, h, w)
        for j, corner in enumerate((0, 2)):
            y, x = (v // 2 for v in _corner(2 * h, 2 * w, 2 * c, corner, HELD_OUT_MARGIN))
            clean = np.ascontiguousarray(packed[:, y : y + c, x : x + c])
            rng = np.random.default_rng([seed, i, j])
            name = f"{Path(path).stem}@corner{corner}"
            items += _darkened_by_cameras(name, clean, look_of(raw), noise_model, rng, ratios, 2 * i + j)
    return items


def _darkened_by_cameras(name: str, clean, look, noise_model: NoiseModel, rng, ratios, index: int):
    """As :func:`_darkened`, with the held-out cameras in turn (shifted by `index`, so that every
    ratio meets every camera)."""
    items = []
    for k, ratio in enumerate(ratios):
        camera = HELD_OUT_CAMERAS[(index + k) % len(HELD_OUT_CAMERAS)]
        pair = make_pair(clean, look, noise_model, rng, ratio=float(ratio), camera=camera)
        items.append(ValItem(f"{name}@x{ratio}", pair))
    return items


def _darkened(name: str, clean, look, noise_model: NoiseModel, rng, ratios, camera: str) -> list[ValItem]:
    """The pairs of one clean packed image darkened by each ratio in turn (one `rng` for all)."""
    return [
        ValItem(
            f"{name}@x{ratio}", make_pair(clean, look, noise_model, rng, ratio=float(ratio), camera=camera)
        )
        for ratio in ratios
    ]


# --- SID-format lists ------------------------------------------------------------------------

_EXPOSURE = re.compile(r"_(\d+(?:\.\d+)?)s\.[^.]+$")


def exposure_from_name(path: str) -> float:
    """SID names files ``<scene>_<index>_<exposure>s.ARW``."""
    match = _EXPOSURE.search(os.path.basename(path))
    if not match:
        raise ValueError(f"{path}: no exposure time in the name (SID format: 00001_00_0.1s.ARW)")
    return float(match.group(1))


def read_sid_list(list_file: str | os.PathLike) -> list[tuple[str, str, float]]:
    """Lines ``./Sony/short/00001_00_0.1s.ARW ./Sony/long/00001_00_10s.ARW ISO200 F8`` ->
    (short path, long path, ratio), paths relative to the list file's folder, ratio capped at 300."""
    base = Path(list_file).parent
    pairs = []
    with open(list_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            short, long = (str((base / p).resolve()) for p in parts[:2])
            ratio = min(exposure_from_name(long) / exposure_from_name(short), SID_MAX_RATIO)
            pairs.append((short, long, ratio))
    return pairs


class SIDPairs(PairSource):
    """Real short/long pairs from a SID-format list (random aligned crops for training)."""

    def __init__(self, list_file: str | os.PathLike, crop: int = 512):
        self.entries = read_sid_list(list_file)
        self.crop = crop // 2
        self._long_cache: dict[str, np.ndarray] = {}

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, float, RawImage]:
        short_path, long_path, ratio = self.entries[index]
        short = read_raw(short_path)
        noisy = pack(short, ratio=ratio)
        if long_path not in self._long_cache:
            self._long_cache[long_path] = np.clip(pack(read_raw(long_path)), 0.0, 1.0)
        return noisy, self._long_cache[long_path], ratio, short

    def sample(self, rng: np.random.Generator) -> Pair:
        noisy, clean, ratio, raw = self.pair(int(rng.integers(len(self.entries))))
        _, h, w = clean.shape
        c = min(self.crop, h, w)
        y, x = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
        return Pair(noisy[:, y : y + c, x : x + c], clean[:, y : y + c, x : x + c], ratio, None, look_of(raw))

    def validation(self) -> list[ValItem]:
        items = []
        for i, (short_path, _, ratio) in enumerate(self.entries):
            noisy, clean, ratio, raw = self.pair(i)
            pair = Pair(noisy, clean, ratio, None, look_of(raw))
            items.append(ValItem(f"{Path(short_path).stem}@x{ratio:g}", pair))
        return items

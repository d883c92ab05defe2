"""The camera profile: what it holds, its file format (docs/calibration.md), which profile
fits a shot and how a shot differs from it."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CalibrationError
from ..raw import RawImage, channel_positions

#: Written in every profile; a file without it is not a profile.
PROFILE_FORMAT = "napari-darkvision camera profile"
#: Bumped when the format changes incompatibly; older readers refuse newer files.
PROFILE_VERSION = 1
PROFILE_SUFFIX = ".npz"
#: Exposure times closer than this (relative) count as the same setting.
EXPOSURE_TOLERANCE = 0.05
#: A dark level (a frame's median, a profile's mean) this far from a black level in the metadata,
#: as a fraction of the raw range (white - black), is not a dark level: a frame with light in it.
LEVEL_TOLERANCE = 0.01
#: ... but never less than this many DN (a 10-bit raw's 1 % is 10 DN).
LEVEL_TOLERANCE_MIN_DN = 8.0
#: Read noise (DN) below this is no sensor's: copies of one frame, or processed frames.
MIN_READ_NOISE_DN = 0.1
#: Read noise above this fraction of the raw range is no dark frame's.
MAX_READ_NOISE = 0.02
#: More hot pixels than this fraction of the sensor: the frames hold a picture, not the dark.
MAX_HOT_FRACTION = 0.01
#: The profile's arrays, stored as such in the .npz beside its JSON header.
_ARRAYS = ("shading_grid", "column_offsets", "row_offsets", "hot_index", "offset_index", "offset_value")


class ProfileMismatchWarning(UserWarning):
    """A profile applied to a shot of another camera, ISO or exposure time."""


class ProfileSkippedWarning(UserWarning):
    """A file in a folder of profiles that is not a readable profile: the others are used."""


def level_tolerance(black: float, white: float) -> float:
    """How far (DN) a dark level may be from the metadata's black level: :data:`LEVEL_TOLERANCE`."""
    return max(LEVEL_TOLERANCE * (white - black), LEVEL_TOLERANCE_MIN_DN)


def implausible(profile: CameraProfile) -> str:
    """Why `profile` cannot have come from dark frames (read noise, hot pixels, its dark level
    against the metadata's black level), in a sentence; "" when it is plausible."""
    span = profile.white_level - min(profile.black_metadata)
    noise = min(profile.read_noise_dn), max(profile.read_noise_dn)
    hot = profile.hot_index.size / max(1, int(np.prod(profile.shape)))
    level = max(abs(m - b) for m, b in zip(profile.black_measured, profile.black_metadata, strict=True))
    if noise[0] < MIN_READ_NOISE_DN:
        return f"read noise {noise[0]:.2f} DN, below any sensor's: copies of one frame, or processed frames?"
    if noise[1] > MAX_READ_NOISE * span:
        return f"read noise {noise[1]:.0f} DN, more than {MAX_READ_NOISE:.0%} of the raw range."
    if hot > MAX_HOT_FRACTION:
        return f"{hot:.1%} of the pixels hot, more than {MAX_HOT_FRACTION:.0%}: frames with light in them?"
    if level > level_tolerance(min(profile.black_metadata), profile.white_level):
        return f"dark level {level:.0f} DN off the black level in the metadata: frames with light in them?"
    return ""


@dataclass
class CameraProfile:
    """One camera's dark pattern and noise at one ISO and exposure time (DN of its raw files)."""

    make: str
    model: str
    iso: float
    exposure_time: float
    shape: tuple[int, int]  # the mosaic's (H, W)
    cfa: str
    frames: int
    black_metadata: tuple[float, float, float, float]  # per packed channel R, G1, B, G2
    black_measured: tuple[float, float, float, float]  # mean dark level per channel
    white_level: float
    read_noise_dn: tuple[float, float, float, float]  # per-pixel temporal sigma (row noise apart)
    row_noise_dn: float  # temporal sigma of a whole row's offset
    shading_grid: np.ndarray  # (4, gh, gw) float32: block means of the dark level per channel
    block: int  # packed pixels per shading block
    column_offsets: np.ndarray  # (W,) float32, DN, high-pass (the shading holds the rest)
    row_offsets: np.ndarray  # (H,) float32
    hot_index: np.ndarray  # int64 flat indices of hot pixels in the mosaic
    offset_index: np.ndarray  # int64 flat indices of pixels with their own significant offset
    offset_value: np.ndarray  # float32 DN
    gain: float | None = None  # system gain K, DN per electron, from flat pairs
    path: str = ""
    version: int = PROFILE_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()

    def shading(self) -> np.ndarray:
        """(H, W) float32: the smooth dark level of each pixel (block means, interpolated)."""
        return shading_map(self.shading_grid, self.shape, self.cfa, self.block)

    def dark_level(self) -> np.ndarray:
        """(H, W) float32: the whole modelled dark level of each pixel, in DN."""
        dark = self.shading()
        dark += self.column_offsets[None, :]
        dark += self.row_offsets[:, None]
        dark.ravel()[self.offset_index] += self.offset_value
        return dark

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the profile as one .npz (a JSON header and plain arrays; no pickle)."""
        from ..output import write_atomically

        header = {k: v for k, v in dataclasses.asdict(self).items() if k not in _ARRAYS and k != "path"}
        header["format"] = PROFILE_FORMAT
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, header=np.array(json.dumps(header)), **arrays)

        return write_atomically(os.fspath(path), write, overwrite=overwrite, formats=[PROFILE_SUFFIX])

    def summary(self) -> str:
        """What was measured, in a few lines, for a person."""
        dark = self.shading()
        spread = [float(np.ptp(dark[r::2, c::2])) for r, c in channel_positions(self.cfa)]
        lines = [
            f"camera {self.camera or '(unknown)'}, ISO {self.iso:g}, exposure {self.exposure_time:g} s, "
            f"{self.shape[1]}x{self.shape[0]} {self.cfa}, {self.frames} dark frames",
            "black level measured "
            + _four(self.black_measured)
            + " vs metadata "
            + _four(self.black_metadata),
            f"hot pixels {self.hot_index.size} ({1e6 * self.hot_index.size / np.prod(self.shape):.0f} per MP), "
            f"own offsets {self.offset_index.size}",
            "read noise " + _four(self.read_noise_dn) + f" DN, row noise {self.row_noise_dn:.2f} DN",
            "dark shading peak-to-peak " + _four(spread) + " DN",
            f"column banding {np.std(self.column_offsets):.2f} DN rms, row banding "
            f"{np.std(self.row_offsets):.2f} DN rms",
        ]
        if self.gain is not None:
            lines.append(f"gain K {self.gain:.3f} DN per electron")
        return "\n".join(lines)


def _four(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def shading_map(grid: np.ndarray, shape, cfa: str, block: int) -> np.ndarray:
    h, w = shape
    out = np.empty((h, w), dtype=np.float32)
    for channel, (r, c) in enumerate(channel_positions(cfa)):
        cells = grid[channel].astype(np.float64)
        smooth = _interpolation(len(range(r, h, 2)), block, cells.shape[0]) @ cells
        out[r::2, c::2] = smooth @ _interpolation(len(range(c, w, 2)), block, cells.shape[1]).T
    return out


def _interpolation(n: int, block: int, cells: int) -> np.ndarray:
    """(n, cells) weights: linear interpolation (and extrapolation at the ends) between the
    centres of blocks of `block` pixels."""
    weights = np.zeros((n, cells))
    if cells == 1:
        weights[:, 0] = 1.0
        return weights
    u = (np.arange(n) + 0.5) / block - 0.5
    low = np.clip(np.floor(u).astype(int), 0, cells - 2)
    frac = u - low
    weights[np.arange(n), low] = 1.0 - frac
    weights[np.arange(n), low + 1] = frac
    return weights


def load_profile(path: str | os.PathLike) -> CameraProfile:
    """Read a profile written by :meth:`CameraProfile.save`; CalibrationError if it is not one
    (not a profile, truncated, damaged or of a newer version)."""
    path = Path(path)
    header, arrays = _read(path, with_arrays=True)
    try:
        for key in ("shape", "black_metadata", "black_measured", "read_noise_dn"):
            header[key] = tuple(int(v) if key == "shape" else float(v) for v in header[key])
        profile = CameraProfile(**header, **arrays, path=str(path.resolve()))
        profile.dark_level()  # arrays of the sizes the header says
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise CalibrationError(f"{path} is a damaged camera profile ({type(err).__name__}: {err}).") from None
    return profile


def _read(path: Path, with_arrays: bool) -> tuple[dict, dict]:
    """A profile file's header (its format and version checked) and, if asked, its arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {key: data[key] for key in _ARRAYS} if with_arrays else {}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        why = "not an .npz archive" if "pickle" in str(err) else f"{type(err).__name__}: {err}"
        raise CalibrationError(
            f"{path} is not a napari-darkvision camera profile, or a damaged one ({why})."
        ) from None
    if not isinstance(header, dict) or header.pop("format", None) != PROFILE_FORMAT:
        raise CalibrationError(f"{path} is not a napari-darkvision camera profile.")
    try:
        version = int(header.get("version", 0))
    except (TypeError, ValueError):
        version = PROFILE_VERSION + 1
    if version > PROFILE_VERSION:
        raise CalibrationError(
            f"{path} is a version {header['version']} profile; this napari-darkvision reads up to "
            f"version {PROFILE_VERSION}: update napari-darkvision."
        )
    return header, arrays


def profile_mismatches(raw: RawImage, profile: CameraProfile) -> list[str]:
    """How `raw` differs from what `profile` was made for (camera, ISO, exposure time): a list of
    sentences, empty when it matches. CalibrationError when the profile cannot apply at all."""
    if tuple(raw.shape) != tuple(profile.shape) or raw.cfa != profile.cfa:
        raise CalibrationError(
            f"The camera profile {os.path.basename(profile.path) or ''} is for {profile.shape[1]}x"
            f"{profile.shape[0]} {profile.cfa} frames; this shot is {raw.shape[1]}x{raw.shape[0]} "
            f"{raw.cfa}: calibrate this camera at this image size."
        )
    notes = []
    camera = f"{raw.make} {raw.model}".strip()
    if camera and profile.camera and camera != profile.camera:
        notes.append(f"camera {camera}, profile for {profile.camera}")
    if raw.iso > 0 and profile.iso > 0 and raw.iso != profile.iso:
        notes.append(f"ISO {raw.iso:g}, profile at ISO {profile.iso:g}")
    if (
        raw.exposure_time > 0
        and profile.exposure_time > 0
        and not nearly_equal(raw.exposure_time, profile.exposure_time)
    ):
        notes.append(f"exposure {raw.exposure_time:g} s, profile at {profile.exposure_time:g} s")
    return notes


def mismatch_message(notes: list[str]) -> str:
    return (
        "The camera profile was made for other settings (" + "; ".join(notes) + "): its dark "
        "pattern may not fit this shot; calibrate at this camera's ISO and exposure time."
    )


def nearly_equal(a: float, b: float) -> bool:
    return abs(a - b) <= EXPOSURE_TOLERANCE * max(abs(a), abs(b))


def select_profile(folder: str | os.PathLike, raw: RawImage) -> CameraProfile:
    """The profile in `folder` (its *.npz files) for this shot: same size and CFA, same camera
    (or none recorded), then the nearest ISO and exposure time (by ratio)."""
    folder = Path(folder)
    seen, fits = [], []
    for path in sorted(folder.glob(f"*{PROFILE_SUFFIX}")):
        try:
            profile = load_profile(path)
        except CalibrationError as err:
            warnings.warn(ProfileSkippedWarning(f"Skipped: {err}"), stacklevel=2)
            continue
        seen.append(
            f"{path.name} ({profile.camera or '?'}, ISO {profile.iso:g}, {profile.exposure_time:g} s)"
        )
        camera = f"{raw.make} {raw.model}".strip()
        if tuple(profile.shape) != tuple(raw.shape) or profile.cfa != raw.cfa:
            continue
        if camera and profile.camera and camera != profile.camera:
            continue
        distance = _log_distance(raw.iso, profile.iso) + _log_distance(
            raw.exposure_time, profile.exposure_time
        )
        fits.append((distance, -profile.frames, path.name, profile))
    if not fits:
        raise CalibrationError(
            f"No camera profile in {folder} fits this shot ({raw.make} {raw.model}, {raw.shape[1]}x"
            f"{raw.shape[0]} {raw.cfa}); profiles there: {', '.join(seen) or 'none'}."
        )
    return min(fits, key=lambda fit: fit[:3])[3]


def _log_distance(a: float, b: float) -> float:
    return abs(math.log(a / b)) if a > 0 and b > 0 else 0.0


def resolve_profile(profile, raw: RawImage) -> CameraProfile:
    """A :class:`CameraProfile`, a profile file or a folder of them -> the profile for `raw`."""
    if isinstance(profile, CameraProfile):
        return profile
    path = Path(profile)
    if path.is_dir():
        return select_profile(path, raw)
    if not path.is_file():
        raise CalibrationError(f"No camera profile at {path}.")
    return load_profile(path)


def check_profile_source(profile) -> None:
    """CalibrationError now (before a shot is read, before torch) for a profile path that is not
    there, or a file that is not a profile (truncated, of another format or a newer version)."""
    if isinstance(profile, CameraProfile):
        return
    if not Path(profile).exists():
        raise CalibrationError(f"No camera profile at {profile}: give a profile file or a folder of them.")
    if Path(profile).is_file():
        _read(Path(profile), with_arrays=False)  # a truncated file has lost its directory: seen here

"""Pack the clean training photos small enough to travel to a lent GPU machine.

    python research/device/pack_training_data.py ../shared/photos runs/device-data

The device tool sends the checkout only (64 MiB in all, carried folders included), not
``../shared``: this re-encodes the photos as JPEG, at their own size and names (so the
train/validation split by name stays the same), at the highest quality that keeps the folder
under the budget, and copies darktable's noise profiles beside them. ``runs/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}


def encode_all(photos: list[Path], quality: int) -> dict[str, bytes]:
    encoded = {}
    for path in photos:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
        encoded[path.stem + ".jpg"] = buffer.getvalue()
    return encoded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="folder of clean photos (e.g. ../shared/photos)")
    parser.add_argument("out", type=Path, help="folder to write (e.g. runs/device-data)")
    parser.add_argument("--budget-mb", type=float, default=34.0, help="size limit of the packed photos")
    parser.add_argument("--darktable", type=Path, help="darktable noiseprofiles JSON to copy beside them")
    args = parser.parse_args(argv)

    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        parser.error(f"no photos in {args.photos}")
    stems = [p.stem for p in photos]
    if len(set(stems)) != len(stems):
        parser.error("two photos share a name: the packed split by name would change")
    for quality in (95, 92, 90, 88, 85, 82, 80, 75, 70):
        encoded = encode_all(photos, quality)
        total_mb = sum(len(b) for b in encoded.values()) / 2**20
        if total_mb <= args.budget_mb:
            break
    else:
        parser.error(f"even at quality {quality} the photos take {total_mb:.0f} MB: raise --budget-mb")
    target = args.out / "photos"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, data in encoded.items():
        (target / name).write_bytes(data)
    if args.darktable:
        shutil.copy(args.darktable, args.out / args.darktable.name)
    print(f"{len(encoded)} photos, JPEG quality {quality}, {total_mb:.1f} MB in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# A plain install, as a user's `pip install napari-darkvision` gets it: a fresh virtual environment
# with torch and the package without extras (no napari, dask, scikit-image, pytest), then every
# command a user runs first: enhance the bundled sample (PNG and DNG), calibrate from dark frames
# made here, and a two-file batch (without dask: one file after another). Fails where a runtime
# import is not declared in pyproject.toml. Run from anywhere; $PYTHON makes the venv (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d -t darkvision-plain-XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$work/venv"
py="$work/venv/bin/python"
cli="$work/venv/bin/napari-darkvision"
# torch first, the CPU build CI uses (as scripts/quickstart.sh does); then the package, no extras
"$py" -m pip install -q "torch==2.13.0"
"$py" -m pip install -q "$repo"
cd "$work"  # nothing of the checkout on the import path: the installed package only

for extra in napari dask distributed skimage pytest; do
  if "$py" -c "import $extra" 2>/dev/null; then
    echo "check_plain_install: $extra is installed, so this is not a plain install" >&2
    exit 1
  fi
done

sample="$("$py" -c 'import importlib.resources as r; print(r.files("napari_darkvision") / "sample_data/gopro_dark_x100.dng")')"
cp "$sample" one.dng
cp "$sample" two.dng

echo "== enhance the bundled sample (PNG, then DNG)"
"$cli" enhance one.dng -o one.png --ratio 100 -q
"$cli" enhance one.dng -o one_enhanced.dng --ratio 100 -q

echo "== calibrate from 4 dark frames"
"$py" - <<'PY'
import numpy as np

from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.raw import RawImage

rng = np.random.default_rng(0)
for i in range(4):
    mosaic = rng.normal(512, 6, (256, 384))
    mosaic[100, 200] = 4000  # a hot pixel, in every frame
    raw = RawImage(mosaic=np.clip(mosaic, 0, 16383).astype(np.uint16), cfa="RGGB",
                   black_level=(512.0,) * 4, white_level=16383.0, camera_wb=(2.0, 1.0, 1.5, 1.0),
                   iso=3200.0, exposure_time=0.5, make="Test", model="Dark")
    write_dng(f"dark{i}.dng", raw)
PY
"$cli" calibrate dark0.dng dark1.dng dark2.dng dark3.dng -o profile.npz

echo "== a two-file batch"
"$cli" enhance one.dng two.dng -o batch --ratio 100 -q
for name in one two; do
  test -s "batch/${name}_darkvision.png" || { echo "check_plain_install: batch/${name}_darkvision.png missing" >&2; exit 1; }
done
if ! grep -q '"runner": "sequential, in this process"' batch/darkvision-summary.json ||
  ! grep -q '"done": 2,' batch/darkvision-summary.json; then
  echo "check_plain_install: the batch did not enhance both files in this process without dask:" >&2
  cat batch/darkvision-summary.json >&2
  exit 1
fi
echo "check_plain_install: enhance, calibrate and a batch run in a plain install"

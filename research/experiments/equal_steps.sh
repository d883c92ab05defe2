#!/usr/bin/env bash
# Release 6's design comparison: three architectures (the SID U-Net's shape at 12 channels,
# release 5's fast-aware, release 6's fast-rep) trained on the same data, seed, batch and
# schedule for the same number of steps, one thread each, then evaluated on both validation
# sets (photos and the shared real raws) with BM3D's rows reused from release 5's evaluation.
#   bash research/experiments/equal_steps.sh [STEPS]   (from the checkout, ../shared present)
set -euo pipefail
steps="${1:-2000}"
dv=.venv/bin/napari-darkvision
shared=../shared
models=()
for arch in small fast-aware fast-rep; do
  out="runs/equal-$steps/$arch"
  if [ ! -f "$out/final.safetensors" ]; then
    "$dv" train --photos "$shared/photos" --darktable "$shared/noise/darktable_noiseprofiles.json" \
      --out "$out" --arch "$arch" --steps "$steps" --batch 8 --lr 4e-4 --seed 6 \
      --val-every "$steps" --threads 1 --defects 0.5 --resume -q
  fi
  models+=(--model "$arch ($steps steps)=$out/final.safetensors")
done
"$dv" evaluate --out "runs/equal-$steps/eval" "${models[@]}" --photos "$shared/photos" \
  --raws "$shared/raw/colorchart.dng" "$shared/raw/HERO7_GOPR9231.DNG" "$shared/raw/IMG_5952.CR2" \
  "$shared/raw/Blackmagic.dng" --baselines-from research/evaluations/eval_v5.json -q

#!/usr/bin/env bash
# Train on a lent GPU machine (the device tool), which gets the checkout but not ../shared and
# cannot reach any package index. Prepare here, once:
#   python research/device/pack_training_data.py ../shared/photos runs/device-data \
#       --darktable ../shared/noise/darktable_noiseprofiles.json
# then run there, carrying runs/device-data (train options after the output folder):
#   bash research/device/device_train.sh "$OUT" --arch fast-aware --init src/napari_darkvision/weights/darkvision.safetensors \
#       --steps 40000 --batch 16 --lr 1e-4 --seed 21 --val-every 2000
# It trains from the source tree (the machine's own python has torch, numpy, pillow, tqdm and
# safetensors; photo training needs nothing else) with one pair-making process per CPU core
# but one, then leaves in OUT what may come back from there (at most 8 files of 16 MiB):
# log.csv, options.json, best/final weights, and last.pt where it fits; larger files in parts
# (rejoin with cat NAME.part-* > NAME). To go on with a run in a later call or session, put its
# last.pt in runs/device-run, carry that folder too, and add --resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ]; then
  echo "usage: bash research/device/device_train.sh OUT_DIR [napari-darkvision train options]" >&2
  exit 2
fi
out="$1"
shift
data="${DARKVISION_DATA:-runs/device-data}"
run="${DARKVISION_RUN:-runs/device-run}"
workers="${DARKVISION_WORKERS:-$(($(nproc) - 1))}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
darktable=()
[ -f "$data/darktable_noiseprofiles.json" ] && darktable=(--darktable "$data/darktable_noiseprofiles.json")
# -q: no progress bar, whose redraws would fill the output that comes back; log.csv has it all
status=0
"${PYTHON:-python3}" -m napari_darkvision.cli train -q --photos "$data/photos" "${darktable[@]}" \
  --device "${DARKVISION_DEVICE:-cuda}" --workers "$workers" --out "$run" "$@" || status=$?
[ -f "$run/log.csv" ] && tail -n 5 "$run/log.csv"

limit=$((15 * 1024 * 1024))
mkdir -p "$out"
for name in log.csv options.json best.safetensors final.safetensors last.pt; do
  file="$run/$name"
  [ -f "$file" ] || continue
  if [ "$(stat -c %s "$file")" -le "$limit" ]; then
    cp "$file" "$out/"
  elif [ "$name" != last.pt ]; then
    split -b "$limit" -d "$file" "$out/$name.part-"
  fi
done
ls -l "$out"
exit "$status"

#!/usr/bin/env bash
# #25's experiment for a lent GPU machine: the shipped recipe (width 1) and G and D twice as wide
# (width 2), each trained from scratch for MINUTES minutes, logging the Fréchet distance to renders
# (guide's and judge's features) every SAVE steps. States, exports and logs land in $OUT; copy the
# logs back as data/training/gan_gpu_width{1,2}.<date>.log.jsonl and add them to
# helpers/worlds/synthfaces/plateau.py's EXPERIMENTS.
#   OUT=/tmp/out bash data/training/gpu_runs.sh                  # ~2 × MINUTES on a GPU
#   OUT=/tmp/out DEVICE=cpu MINUTES=0.2 SAVE=2 bash data/training/gpu_runs.sh   # checks it runs
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-4}
SAVE=${SAVE:-500}
: "${OUT:?set OUT to the folder the states and logs go to}"
mkdir -p "$OUT"
for width in 1 2; do
  "$PY" -m helpers.worlds.synthfaces.train_gan --width "$width" --steps 1000000 \
      --device "$DEVICE" --max-minutes "$MINUTES" --save-every "$SAVE" --threads 4 \
      --state "$OUT/gan_width$width.pt" --out "$OUT/g_width$width.pt"
done
ls -l "$OUT"

#!/usr/bin/env bash
# The measurements that need a GPU, as one prepared run for a lent GPU machine (whose python3 holds
# PyTorch): #5's anchors goal (batched ≥ 8× the one-by-one loop), the edit-video throughput and
# #26's memory per code at 1024 px.
#   bash bench/gpu.sh                 # a few minutes on an H100
#   DEVICE=cpu ROUNDS=1 bash bench/gpu.sh   # the same script here, to check it runs
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda available:', torch.cuda.is_available())"
"$PY" bench/anchors.py --device "$DEVICE" --rounds "${ROUNDS:-3}"
"$PY" bench/transfer.py --device "$DEVICE"
# #26: the ffhq text-anchor step at 1024 px — memory per code, and the chunk a T4-sized budget allows
if [ "$DEVICE" = cuda ]; then
  "$PY" bench/ffhq_memory.py --device cuda
else
  "$PY" bench/ffhq_memory.py --device meta
fi

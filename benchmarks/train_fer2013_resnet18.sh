#!/usr/bin/env bash
# Candidate for the bundled expression model (issue 23): resnet18_fer (ResNet-18 layout at half width, 2.8 M
# parameters) on random 40x40 crops of FER2013 Training, 120 epochs of SGD (Nesterov, lr 0.1, cosine), weight
# decay 5e-4, label smoothing 0.1, random erasing 0.5, small affine + flips, bf16 autocast where the CPU has
# avx512_bf16/AMX (--precision auto), 2 threads. The epoch is selected on PublicTest only.
#
# Runs in the background at nice 10 and writes everything to $RUN (outside the repository, so the next session
# on this machine finds it): train.log, history.json, last.pt (every epoch), best.pt, results.json and the card.
# Resume an interrupted run by running this script again (it continues from $RUN/last.pt).
# FOREGROUND=1 runs it in this shell instead. Only one run at a time: it refuses while $RUN/pid is alive.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-/root/affectlab-train/resnet18-fer2013-sgd120}
mkdir -p "$RUN"
if [[ -f "$RUN/pid" ]] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "already running: pid $(cat "$RUN/pid") (log $RUN/train.log)" >&2
    exit 1
fi
cmd=(env OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 .venv/bin/python benchmarks/train_fer2013.py
     --model resnet18_fer --epochs 120 --batch-size 128 --optimizer sgd --lr 0.1 --weight-decay 5e-4
     --schedule cosine --label-smoothing 0.1 --erase 0.5 --rotation 10 --scale 0.1 --translate 0.05
     --crop-size 40 --channels-last --threads 2 --precision auto --seed 0 --out "$RUN" "$@")
if [[ "${FOREGROUND:-0}" == 1 ]]; then
    exec "${cmd[@]}"
fi
echo "=== $(date -Is) start: ${cmd[*]}" >> "$RUN/train.log"
nohup nice -n 10 "${cmd[@]}" >> "$RUN/train.log" 2>&1 &
echo $! > "$RUN/pid"
echo "started pid $! (log $RUN/train.log)"

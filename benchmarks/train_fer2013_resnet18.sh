#!/usr/bin/env bash
# Candidate for the bundled expression model (issue 23): resnet18_fer (ResNet-18 layout at half width, 2.8 M
# parameters) on random 40x40 crops of FER2013 Training, 120 epochs of AdamW (lr 3e-3, one-cycle, weight decay
# 0.05: the bundled resnet_fer's recipe, benchmarks/train_resnet_fer.sh), label smoothing 0.1, random erasing
# 0.5, small affine + flips, bf16 autocast where the CPU has avx512_bf16/AMX (--precision auto). The epoch is
# selected on PublicTest only.
#
# One thread: on this 2-core machine shared with other work, two OpenMP threads are 2-8x slower per step than
# one (a thread waits at every barrier for its descheduled partner; measured 2026-12-07: resnet_fer batch 128,
# 1 thread fp32 490 ms / bf16 290 ms, 2 threads 965-3,728 / 649-1,117 ms). THREADS=2 on an idle machine.
#
# Runs in the background at nice 10 and writes everything to $RUN (outside the repository, so the next session
# on this machine finds it): train.log, history.json, last.pt (every epoch), best.pt, results.json and the card.
# Resume an interrupted run by running this script again (it continues from $RUN/last.pt; the thread count may
# change between the two). FOREGROUND=1 runs it in this shell instead. It refuses while $RUN/pid is alive.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-/root/affectlab-train/resnet18-fer2013-adamw120}
THREADS=${THREADS:-1}
mkdir -p "$RUN"
if [[ -f "$RUN/pid" ]] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "already running: pid $(cat "$RUN/pid") (log $RUN/train.log)" >&2
    exit 1
fi
cmd=(env OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
     .venv/bin/python benchmarks/train_fer2013.py
     --model resnet18_fer --epochs 120 --batch-size 128 --optimizer adamw --lr 3e-3 --weight-decay 0.05
     --schedule onecycle --label-smoothing 0.1 --erase 0.5 --rotation 10 --scale 0.1 --translate 0.05
     --crop-size 40 --channels-last --threads "$THREADS" --precision auto --seed 0 --out "$RUN" "$@")
if [[ "${FOREGROUND:-0}" == 1 ]]; then
    exec "${cmd[@]}"
fi
echo "=== $(date -Is) start: ${cmd[*]}" >> "$RUN/train.log"
nohup nice -n 10 "${cmd[@]}" >> "$RUN/train.log" 2>&1 &
echo $! > "$RUN/pid"
echo "started pid $! (log $RUN/train.log)"

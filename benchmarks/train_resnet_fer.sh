#!/usr/bin/env bash
# Train the bundled-candidate ResNet (resnet_fer, 1.2 M parameters) on FER2013 Training, selecting
# the epoch on PublicTest only. CPU, one thread; resumable (run it again to continue from
# runs/resnet-fer2013/last.pt). Prints one JSON object at the end and writes the model card. fp32, as the
# bundled weights were trained (train_fer2013.py now defaults to --precision auto: bf16 where the CPU has it).
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 exec .venv/bin/python benchmarks/train_fer2013.py \
    --model resnet_fer --epochs 24 --batch-size 128 --optimizer adamw --lr 3e-3 --weight-decay 0.05 \
    --label-smoothing 0.1 --channels-last --threads 1 --precision fp32 --out runs/resnet-fer2013 "$@"

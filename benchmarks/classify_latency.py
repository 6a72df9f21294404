"""Per-face classification latency at batch size 1 on one CPU thread, test-time augmentation included (JSON).

    python benchmarks/classify_latency.py [--models resnet_fer resnet18_fer] [--tta auto] [--repeats 300]

Times :func:`affectlab.models.predict_probabilities` on one uint8 face of the model's face size (what the
front-end hands over), the model in eval mode with channels-last weights, after a warm-up; prints the median
and the 90th percentile in milliseconds, the network's forward pass alone on the same views beside them, and
the size of the model's weights (float32 and float16). The budget the front-end and video paths count on is
3 ms per face. Other processes on the machine inflate the wall-clock figures (the load average is printed with
them); ``cpu_median_ms``, the CPU time of the calling thread, leaves out the time other processes held the core.

Two cheaper ways to run the same network are timed beside it, on the same views (the forward pass alone, CPU time
of the thread): ``fused`` folds each batch norm into the convolution before it (``torch.fx`` ``fuse``; the same
function up to float rounding) and ``fused_bf16`` also runs it under bf16 autocast (where the CPU has native bf16;
the largest change of a logit on the timed views is printed, ``fused_bf16_max_logit_change``). They are
measurements for a decision, not settings of ``analyze``: their accuracy must be checked before either is used.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from affectlab.models import create_model, face_size, predict_probabilities
from affectlab.models.inference import resolve_tta


def _timings(run, repeats: int, warmup: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and calling-thread CPU milliseconds of each of ``repeats`` calls of ``run()``, after ``warmup``."""
    for _ in range(warmup):
        run()
    wall, cpu = np.zeros(repeats), np.zeros(repeats)
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        run()
        wall[i], cpu[i] = (time.perf_counter() - start) * 1000, (time.thread_time() - start_cpu) * 1000
    return wall, cpu


def _thread_ms(run, repeats: int) -> float:
    """Median CPU time of the calling thread per call of ``run()``, in milliseconds, after a warm-up."""
    return round(float(np.median(_timings(run, repeats)[1])), 3)


def _variant_times(model: torch.nn.Module, views: torch.Tensor, repeats: int) -> dict[str, float]:
    """Thread CPU time of the plain network, with batch norm folded into the convolutions, and that under bf16
    autocast, on ``views``; and the largest logit change of the last against the plain network."""
    from torch.fx.experimental.optimization import fuse

    from affectlab.models.train import resolve_precision

    fused = fuse(model.eval())
    out: dict[str, float] = {}
    with torch.inference_mode():
        out["network_cpu_median_ms"] = _thread_ms(lambda: model(views), repeats)
        out["fused_cpu_median_ms"] = _thread_ms(lambda: fused(views), repeats)
        if resolve_precision("auto", "cpu") == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out["fused_bf16_cpu_median_ms"] = _thread_ms(lambda: fused(views), repeats)
                low = fused(views).float()
            out["fused_bf16_max_logit_change"] = round(float((low - model(views)).abs().max()), 5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet_fer", "resnet18_fer"])
    parser.add_argument("--tta", default="auto", help="auto (each model's own), none or mirror")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.models:
        model = create_model(name).eval().to(memory_format=torch.channels_last)
        face = np.random.default_rng(0).integers(0, 256, (1, *face_size(model)), dtype=np.uint8)
        times, cpu = _timings(lambda m=model, f=face: predict_probabilities(m, f, tta=args.tta, device="cpu"),
                              args.repeats, warmup=20)
        views = torch.rand(2 if resolve_tta(model, args.tta) == "mirror" else 1, model.config.channels,
                           *model.config.input_size).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            raw, _ = _timings(lambda m=model, v=views: m(v), args.repeats, warmup=0)
        variants = _variant_times(model, views, args.repeats)
        params = sum(p.numel() for p in model.parameters())
        buffers = sum(b.numel() for b in model.buffers())
        rows.append({"model": name, "tta": resolve_tta(model, args.tta), "face": list(face_size(model)),
                     "input": list(model.config.input_size), "median_ms": round(float(np.median(times)), 3),
                     "p90_ms": round(float(np.percentile(times, 90)), 3),
                     "cpu_median_ms": round(float(np.median(cpu)), 3),
                     "network_alone_median_ms": round(float(np.median(raw)), 3), **variants, "parameters": params,
                     "weights_mb_fp32": round((params + buffers) * 4 / 1e6, 2),
                     "weights_mb_fp16": round((params + buffers) * 2 / 1e6, 2)})
    print(json.dumps({"benchmark": "classify_latency", "threads": 1, "batch_size": 1, "rows": rows,
                      "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Attack settings and CAM layers for the ORL identity model, on its VALIDATION faces only (image 7 of every subject).

    python benchmarks/orl_fool_validation.py [--cam] [SETTINGS_JSON ...]
        [--weights runs/orl-identity/model.pt] [--data ../shared/datasets/orl_faces]

Each SETTINGS_JSON is a mapping of keyword arguments to :func:`affectlab.explain.fool` (e.g. ``'{}'`` for the
defaults, ``'{"max_steps": 250}'``); for each one the validation faces the model classifies correctly are attacked
towards their most likely wrong subject and one JSON line is printed: success rate, median steps (successful faces),
the most steps taken, the share of faces whose difference map has at least three non-black bands of >= 5 % of the
changed pixels, and seconds. ``--cam`` first prints, for Grad-CAM and LayerCAM at several layers, the share of
validation faces whose map is all zero. No test image (8-10) is read. This is the evidence behind the attack and
CAM settings of configs/orl-fooling.yaml.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    from affectlab.data.orl import load_orl
    from affectlab.explain import GradCAM, LayerCAM, band_shares, fool
    from affectlab.identity.classify import read_identity_images
    from affectlab.models.checkpoint import load_model
    from affectlab.models.train import predict_proba

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="*", default=[])
    parser.add_argument("--weights", type=Path, default=REPO / "runs" / "orl-identity" / "model.pt")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "orl_faces")
    parser.add_argument("--image", default="7", help="ORL image number of the validation faces")
    parser.add_argument("--cam", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.weights).eval()
    dataset = load_orl(args.data)
    index = [i for i, s in enumerate(dataset.samples) if s.extras["image"] == str(args.image)]
    images = read_identity_images(dataset.subset(index), tuple(model.config.input_size), "edge")
    correct = np.flatnonzero(predict_proba(model, images).argmax(1) == dataset.targets[index])
    print(json.dumps({"image": args.image, "faces": len(index), "correct": len(correct)}), flush=True)
    if args.cam:
        for layer in ("blocks", "blocks.block4", "blocks.block3"):
            for explainer in (GradCAM, LayerCAM):
                with explainer(model, layer) as cam:
                    maps = cam(images[correct]).maps
                empty = float(np.mean(maps.reshape(len(maps), -1).max(axis=1) <= 0))
                print(json.dumps({"cam": explainer.__name__, "layer": layer, "all_zero_share": round(empty, 3)}),
                      flush=True)
    for spec in args.settings:
        kwargs = json.loads(spec)
        tick = time.time()
        result = fool(model, images[correct], **kwargs)
        shares = [band_shares(result.original[i, 0], result.adversarial[i, 0]) for i in range(len(result))]
        three = [sum(s[b] >= 0.05 for b in ("gray", "yellow", "orange", "red")) >= 3 for s in shares]
        ok = result.success
        print(json.dumps({**kwargs, "success": float(ok.mean()),
                          "median_steps": float(np.median(result.steps[ok])) if ok.any() else None,
                          "max_steps_taken": int(result.steps.max()), "three_bands": float(np.mean(three)),
                          "seconds": round(time.time() - tick, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

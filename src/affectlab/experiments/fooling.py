"""``kind: fooling``: fool a classifier on the correctly classified faces of a dataset, and say which regions decide.

Example config (``configs/orl-fooling.yaml``; ``configs/fer2013-fooling.yaml`` does the same for the bundled
expression model on FER2013 PublicTest faces)::

    kind: fooling
    name: orl-fooling
    data: {source: ../../shared/datasets/orl_faces}   # any dataset affectlab reads; split: to keep one split
    faces: {images: [8, 9, 10], n: null}              # ORL image numbers (the identity run's test images)
    images: {square: edge}                            # padded to a square like the identity run, then resized
    model: {weights: runs/orl-identity/model.pt}      # or {name: resnet_fer}: a registered model's bundled weights
    attack: {bound: 0.15, threshold: 0.9, max_steps: 100, method: scaled}
    map: {scale: rank, top_bands: [orange, red]}
    regions: {layout: orl128, cam: gradcam, cam_layer: null}
    figures: 6

Protocol: every selected face (``data.split``, ``faces.images``) is classified; those classified correctly (the
model's class name equals the sample's label), the first ``faces.n`` of them when set, are attacked towards their
most likely wrong class with :func:`~affectlab.explain.fool` (each pixel within ``bound`` of its original), until
that class reaches ``threshold`` or after ``max_steps``. Reported: success rate, median steps, the band shares of
the difference maps (share of each face's changed pixels in each colour band, as drawn, averaged over faces), and
the region table (:mod:`affectlab.explain.regions`): for each region its share of the area, of the top bands of
the difference maps (``map.top_bands``, before neighbours are coloured) and of the Grad-CAM heat of the
originally predicted class, averaged over the attacked faces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.data import load_dataset
from affectlab.data.media import read_image, to_gray
from affectlab.errors import ConfigError
from affectlab.experiments import runs
from affectlab.experiments.config import names_the_file, read_raw_config, resolve_source, section
from affectlab.explain import fool
from affectlab.explain.fooling import DIFFERENCE_BANDS, DIFFERENCE_SCALES, band_shares, difference_bands
from affectlab.explain.regions import REGION_LAYOUTS, region_masks, region_table
from affectlab.identity.images import SQUARE_MODES, prepare_faces
from affectlab.models import DEFAULT_MODEL, create_model
from affectlab.models.checkpoint import check_weights_network, load_model
from affectlab.models.train import predict_proba
from affectlab.viz.fooling import fooling_figure
from affectlab.viz.overlay import save_rgb
from affectlab.viz.panel import text_cell
from affectlab.viz.regions import region_layout_image, save_region_plot

__all__ = ["FOOLING_KEYS", "run_fooling_experiment"]

#: Columns of the one-line summary table (report and ``affectlab experiment`` output).
_SUMMARY_COLUMNS = ("feature", "classifier", "n_faces", "success_rate", "median_steps", "max_steps_taken",
                    "max_abs_delta_over_bound", "faces_with_3_bands_of_5pct", "band_gray", "band_yellow",
                    "band_orange", "band_red")

#: Top-level keys of a ``kind: fooling`` file (``run`` is provenance written by a run; ignored).
FOOLING_KEYS = ("kind", "name", "description", "data", "faces", "images", "model", "attack", "map", "regions",
                "figures", "run")
_DATA_KEYS = {"source": None, "split": None}
_FACES_KEYS = {"images": None, "n": None, "batch_size": 32}
_MODEL_KEYS = {"name": None, "weights": None}
_ATTACK_KEYS = {"bound": 0.15, "threshold": 0.9, "max_steps": 100, "step_size": None, "method": "scaled"}
_MAP_KEYS = {"scale": "rank", "top_bands": ["orange", "red"]}
_REGION_KEYS = {"layout": "face48", "cam": "gradcam", "cam_layer": None}
#: ``regions.cam`` -> (explainer class name in affectlab.explain, the name in tables)
_CAMS = {"gradcam": ("GradCAM", "Grad-CAM"), "layercam": ("LayerCAM", "LayerCAM")}


def _check(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:

    cfg = {"data": section(raw, "data", _DATA_KEYS), "faces": section(raw, "faces", _FACES_KEYS),
           "model": section(raw, "model", _MODEL_KEYS), "attack": section(raw, "attack", _ATTACK_KEYS),
           "map": section(raw, "map", _MAP_KEYS), "regions": section(raw, "regions", _REGION_KEYS)}
    faces, attack, dmap = cfg["faces"], cfg["attack"], cfg["map"]
    if faces["n"] is not None and (not is_integer(faces["n"]) or faces["n"] < 1):
        raise ConfigError(f"faces.n must be null or an int >= 1, got {faces['n']!r}")
    if not is_integer(faces["batch_size"]) or faces["batch_size"] < 1:
        raise ConfigError(f"faces.batch_size must be an int >= 1, got {faces['batch_size']!r}")
    if faces["images"] is not None and (not isinstance(faces["images"], list) or not faces["images"]):
        raise ConfigError(f"faces.images must be null or a non-empty list of image numbers, got {faces['images']!r}")
    if attack["method"] not in ("sign", "scaled"):
        raise ConfigError(f"attack.method must be sign or scaled, got {attack['method']!r}")
    if not is_integer(attack["max_steps"]) or attack["max_steps"] < 1:
        raise ConfigError(f"attack.max_steps must be an int >= 1, got {attack['max_steps']!r}")
    for key in ("bound", "threshold"):
        if not is_number(attack[key]) or not 0 < attack[key] <= 1:
            raise ConfigError(f"attack.{key} must be a number in (0, 1], got {attack[key]!r}")
    if attack["step_size"] is not None and (not is_number(attack["step_size"]) or not attack["step_size"] > 0):
        raise ConfigError(f"attack.step_size must be null or a number > 0, got {attack['step_size']!r}")
    if dmap["scale"] not in DIFFERENCE_SCALES and not (is_number(dmap["scale"]) and dmap["scale"] > 0):
        raise ConfigError(f"map.scale must be one of {', '.join(DIFFERENCE_SCALES)} or a number > 0, "
                          f"got {dmap['scale']!r}")
    band_names = [name for _, _, _, name in DIFFERENCE_BANDS]
    top = dmap["top_bands"]
    if not isinstance(top, list) or not top or any(b not in band_names[1:] for b in top):
        raise ConfigError(f"map.top_bands must be a non-empty list of {', '.join(band_names[1:])}, got {top!r}")
    cams = cfg["regions"]["cam"]
    cams = [cams] if isinstance(cams, str) else cams
    if not isinstance(cams, list) or not cams or any(c not in _CAMS for c in cams) or len(set(cams)) != len(cams):
        raise ConfigError(f"regions.cam must be one or a list of {', '.join(_CAMS)}, got {cfg['regions']['cam']!r}")
    cfg["regions"]["cam"] = cams
    if cfg["regions"]["layout"] not in REGION_LAYOUTS:
        raise ConfigError(f"regions.layout must be one of {', '.join(REGION_LAYOUTS)}, got "
                          f"{cfg['regions']['layout']!r}")
    figures = raw.get("figures", 6)
    if not is_integer(figures) or figures < 0:
        raise ConfigError(f"figures must be an int >= 0, got {figures!r}")
    cfg["figures"] = {"n": int(figures)}
    return cfg


def _load_model(model_cfg: Mapping[str, Any], base: Path | None):
    """The network of ``model``: a weights file (its own network, or ``name`` for a bare state dict), else the
    bundled weights of ``name`` (default: the bundled expression model)."""

    name, weights = model_cfg["name"], model_cfg["weights"]
    if weights is not None:
        path = resolve_source(str(weights), base, "model.weights", what="weights file")
        if name is not None:
            check_weights_network(path, str(name), option="model.name")
        return load_model(path, fallback=str(name or DEFAULT_MODEL)), str(path)
    return create_model(str(name or DEFAULT_MODEL), pretrained=True), None


def _faces(dataset, cfg: Mapping[str, Any], model, square: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, C, H, W) uint8, indices into dataset.samples)`` of the selected samples, sized for ``model``."""

    split, numbers = cfg["data"]["split"], cfg["faces"]["images"]
    keep = []
    for i, s in enumerate(dataset.samples):
        if split is not None and s.split != split:
            continue
        if numbers is not None and str(s.extras.get("image", "")) not in {str(v) for v in numbers}:
            continue
        keep.append(i)
    if not keep:
        raise ConfigError(f"no sample of {dataset.root or dataset.name} matches data.split {split!r} and faces.images "
                          f"{numbers!r}")
    gray = model.config.channels == 1
    raw = []
    for i in keep:
        s = dataset.samples[i]
        if s.pixels is not None:
            img = np.asarray(s.pixels, dtype=np.uint8)
            img = to_gray(img) if gray and img.ndim == 3 else img
            if not gray and img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
        else:
            img = read_image(s.path, mode="gray" if gray else "rgb")
        raw.append(img)
    images = prepare_faces(raw, tuple(model.config.input_size), square)
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), np.asarray(keep)


def run_fooling_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | None = None,
):
    """Run a ``kind: fooling`` file (see the module docstring) and write its run folder.

    ``n_jobs`` and ``cache`` are accepted for the common runner signature and not used.
    """
    import torch


    raw, cfg, source_path, base = _read_fooling(config, data)
    model, weights_path = _load_model(cfg["model"], base)
    model.eval()
    run = runs.RunFolder(out_dir, overwrite=overwrite)

    dataset = load_dataset(source_path)
    images, index = _faces(dataset, cfg, model, cfg["images"]["square"])
    names = list(model.config.class_names)
    labels = np.array([dataset.samples[i].label for i in index], dtype=object)
    if not set(labels.tolist()) & set(names):
        raise ConfigError(f"the dataset's labels ({', '.join(sorted(map(str, set(labels.tolist())))[:5])}...) are "
                          f"not classes of {model.config.name} ({', '.join(names[:5])}...)")
    pred = predict_proba(model, images, device="cpu").argmax(1)
    correct = np.flatnonzero(np.array(names, dtype=object)[pred] == labels)
    n_classified = len(index)
    accuracy = len(correct) / n_classified
    if cfg["faces"]["n"] is not None:
        correct = correct[: int(cfg["faces"]["n"])]
    if not len(correct):
        raise ConfigError(f"{model.config.name} classifies none of the {n_classified} selected faces correctly")
    attacked = _attack(model, images[correct], cfg, progress=progress)
    bands = _bands(attacked["original"], attacked["adversarial"], cfg["map"])
    sources = {"fooling top bands": bands["top_masks"],
               **_cam_sources(model, attacked["original"], cfg["regions"], int(cfg["faces"]["batch_size"]))}
    masks = region_masks(cfg["regions"]["layout"], tuple(model.config.input_size))
    table = region_table(masks, sources)
    row = _summary_row(model, cfg, attacked, bands, table, n_classified=n_classified, accuracy=accuracy)
    out = run.create()
    with open(out / "fooling.jsonl", "w", encoding="utf-8") as sink:
        for k, rec in zip(correct, attacked["records"]):
            sink.write(json.dumps({"id": dataset.samples[index[k]].id, "label": str(labels[k]), **rec}) + "\n")
    files = _write_figures(out, attacked["original"], attacked["adversarial"], correct, index, dataset, cfg,
                           cfg["map"]["scale"], table, masks, attacked["records"])
    (out / "regions.csv").write_text(_csv(table.rows()), encoding="utf-8")
    resolved = {
        "kind": "fooling", "name": raw.get("name", "fooling"),
        **({"description": raw["description"]} if raw.get("description") else {}),
        "data": {**cfg["data"], "source": str(source_path)}, "faces": cfg["faces"], "images": cfg["images"],
        "model": {**cfg["model"], "weights": weights_path, "network": model.config.name,
                  "input_size": list(model.config.input_size)},
        "attack": cfg["attack"], "map": cfg["map"], "regions": cfg["regions"], "figures": cfg["figures"]["n"],
        "run": run.provenance(config_path=cfg["path"], packages=("torch",), threads=torch.get_num_threads(),
                              data_sha256=dataset.fingerprint(), seconds=round(run.elapsed, 1)),
    }
    run.write_config(resolved)
    run.write_metrics({"rows": [row], "band_shares": bands["mean_shares"], "regions": table.rows(),
                       "regions_n_faces": table.n_faces})
    summary = runs.scalar_table([row], _SUMMARY_COLUMNS)
    _write_report(out, resolved, row, bands["mean_shares"], table, files, summary)
    return run.result([row], resolved, n_folds=1, markdown=summary + "\n\n" + table.markdown())


@names_the_file
def _read_fooling(config: Mapping[str, Any] | str | Path,
                  data: str | Path | None) -> tuple[dict[str, Any], dict[str, Any], Path, Path | None]:
    """Read config stage: the raw mapping, the checked sections (with ``images`` and the file's ``path``), the
    dataset's location and the config's folder."""

    raw, path = read_raw_config(config)
    unknown = sorted(set(raw) - set(FOOLING_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(FOOLING_KEYS[:-1])})")
    base = Path(path).resolve().parent if path else None
    cfg = _check(raw)
    images_cfg = section(raw, "images", {"square": "none"})
    if images_cfg["square"] not in SQUARE_MODES:
        raise ConfigError(f"images.square must be one of {', '.join(SQUARE_MODES)}, got {images_cfg['square']!r}")
    cfg["images"], cfg["path"] = images_cfg, path
    source = data if data is not None else cfg["data"]["source"]
    source_path = resolve_source(str(source) if source is not None else source, base if data is None else None,
                                 "--data" if data is not None else "data.source")
    return raw, cfg, source_path, base


def _attack(model: Any, faces: np.ndarray, cfg: Mapping[str, Any], *, progress: bool) -> dict[str, Any]:
    """Fool every face (in batches of ``faces.batch_size``) towards its most likely wrong class."""
    from tqdm.auto import tqdm


    attack, bs = cfg["attack"], int(cfg["faces"]["batch_size"])
    results = []
    for start in tqdm(range(0, len(faces), bs), desc="fooling", unit="batch", disable=not progress):
        results.append(fool(model, faces[start: start + bs], bound=float(attack["bound"]),
                            threshold=float(attack["threshold"]), max_steps=int(attack["max_steps"]),
                            step_size=attack["step_size"], method=attack["method"]))
    names = list(model.config.class_names)
    return {"original": np.concatenate([r.original for r in results]),
            "adversarial": np.concatenate([r.adversarial for r in results]),
            "success": np.concatenate([r.success for r in results]),
            "steps": np.concatenate([r.steps for r in results]),
            "records": [rec for r in results for rec in r.to_records(names)]}


def _bands(original: np.ndarray, adversarial: np.ndarray, dmap: Mapping[str, Any]) -> dict[str, Any]:
    """The difference maps' band shares per face (and their mean) and each face's mask of the top bands."""

    scale = dmap["scale"]
    band_names = [name for _, _, _, name in DIFFERENCE_BANDS]
    top_index = [band_names.index(b) for b in dmap["top_bands"]]
    shares, top_masks = [], []
    for o, a in zip(original, adversarial):
        o2, a2 = o.transpose(1, 2, 0), a.transpose(1, 2, 0)
        shares.append(band_shares(o2, a2, scale=scale))
        top_masks.append(np.isin(difference_bands(o2, a2, scale=scale, neighbours=False), top_index))
    return {"mean_shares": {b: float(np.mean([s[b] for s in shares])) for b in band_names},
            "three_bands": [sum(s[b] >= 0.05 for b in band_names[1:]) >= 3 for s in shares],
            "top_masks": np.stack(top_masks).astype(np.float64)}


def _cam_sources(model: Any, original: np.ndarray, regions: Mapping[str, Any], bs: int) -> dict[str, np.ndarray]:
    """Each configured CAM's heat maps of the originally predicted class, by its table name."""
    from affectlab import explain

    sources = {}
    for key in regions["cam"]:
        cam_class, cam_name = _CAMS[key]
        with getattr(explain, cam_class)(model, regions["cam_layer"]) as cam:
            sources[cam_name] = np.concatenate([cam(original[s: s + bs]).maps for s in range(0, len(original), bs)])
    return sources


def _summary_row(model: Any, cfg: Mapping[str, Any], attacked: Mapping[str, Any], bands: Mapping[str, Any], table: Any,
                 *, n_classified: int, accuracy: float) -> dict[str, Any]:
    """Metrics stage: the run's one results row."""
    attack, original, success, steps = cfg["attack"], attacked["original"], attacked["success"], attacked["steps"]
    delta = np.abs(attacked["adversarial"] - original).reshape(len(original), -1).max(axis=1)
    return {"feature": model.config.name, "classifier": f"fooling_{attack['method']}",
            "n_classified": n_classified, "classified_accuracy": round(accuracy, 4), "n_faces": len(original),
            "success_rate": round(float(success.mean()), 4), "n_success": int(success.sum()),
            "median_steps": float(np.median(steps[success])) if success.any() else None,
            "median_steps_all": float(np.median(steps)), "max_steps_taken": int(steps.max()),
            "max_abs_delta_over_bound": round(float(delta.max() / attack["bound"]), 4),
            "faces_with_3_bands_of_5pct": round(float(np.mean(bands["three_bands"])), 4),
            **{f"empty_maps_{_CAMS[k][1]}": len(original) - table.n_faces[_CAMS[k][1]]
               for k in cfg["regions"]["cam"]},
            **{f"band_{b}": round(v, 4) for b, v in bands["mean_shares"].items()}}


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return handle.getvalue()


def _write_figures(out: Path, original: np.ndarray, adversarial: np.ndarray, correct: np.ndarray, index: np.ndarray,
                   dataset, cfg: Mapping[str, Any], scale: Any, table, masks, records: list[dict]) -> list[str]:
    """The pre / map / post figures of the first faces (stacked in ``fooling_panel.png``), ``regions.png`` and
    ``region_layout.png`` (the regions over the attacked faces' mean)."""

    files = []
    n = min(cfg["figures"]["n"], len(original))
    if n:
        rows = []
        for k in range(n):
            rec = records[k]
            caption = (f"{dataset.samples[index[correct[k]]].id}: {rec['original_class']} -> {rec['target']}"
                       f" p={rec['target_probability']:.2f}, {rec['steps']} steps")
            fig = fooling_figure(original[k], adversarial[k], cell=192, scale=scale)
            rows.append(np.concatenate([text_cell(caption, (22, fig.shape[1])), fig], axis=0))
        save_rgb(np.concatenate(rows, axis=0), out / "fooling_panel.png")
        files.append("fooling_panel.png")
    save_region_plot(table, out / "regions.png", title=f"{cfg['regions']['layout']} regions")
    mean_face = np.clip(np.rint(original[:, 0].mean(axis=0) * 255), 0, 255).astype(np.uint8)
    save_rgb(region_layout_image(mean_face, masks), out / "region_layout.png")
    return files + ["regions.png", "region_layout.png", "regions.csv", "fooling.jsonl"]


def _write_report(out: Path, cfg: Mapping[str, Any], row: Mapping[str, Any], shares: Mapping[str, float], table,
                  files: list[str], summary: str) -> None:
    attack, faces = cfg["attack"], cfg["faces"]
    selection = ", ".join(filter(None, [f"split {cfg['data']['split']}" if cfg["data"]["split"] else "",
                                        f"image numbers {faces['images']}" if faces["images"] else ""])) or "all"
    lines = [
        f"- data: `{cfg['data']['source']}` ({selection}: {row['n_classified']} faces), sized to"
        f" {cfg['model']['input_size']}" + (" after padding to a square with edge values" if
                                            cfg["images"]["square"] == "edge" else "") + ".",
        f"- model: {cfg['model']['network']}"
        + (f" from `{cfg['model']['weights']}`" if cfg["model"]["weights"] else " (bundled weights)")
        + f"; it classifies {row['classified_accuracy']:.4f} of the selected faces correctly.",
        f"- attacked: the {'first ' + str(faces['n']) + ' ' if faces['n'] else ''}correctly classified faces"
        f" ({row['n_faces']}), each towards its most likely wrong class; {attack['method']} steps of"
        f" {attack['step_size'] or '1/255'}, every pixel within {attack['bound']} of its original (value range"
        f" [0, 1]); success = that class reaches probability >= {attack['threshold']} within {attack['max_steps']}"
        " steps.",
        f"- difference maps: scale `{cfg['map']['scale']}`; band shares are each face's changed pixels per colour band"
        " as drawn (neighbours coloured), averaged over faces.",
        f"- regions: layout `{cfg['regions']['layout']}` (affectlab.explain.regions); fooling = share of the"
        f" {'+'.join(cfg['map']['top_bands'])} pixels (before neighbours are coloured);"
        f" {', '.join(_CAMS[k][1] for k in cfg['regions']['cam'])} = share of the heat of the originally predicted"
        f" class on the layer {cfg['regions']['cam_layer'] or 'of the model config (cam_layer)'}; all averaged over"
        " the attacked faces, a face whose heat map is all zero left out ("
        + ", ".join(f"{_CAMS[k][1]}: {row['empty_maps_' + _CAMS[k][1]]}" for k in cfg["regions"]["cam"])
        + "); '/ area' above 1 means the region takes more than its size.",
    ]
    result = (f"success {row['success_rate']:.4f} ({row['n_success']} of {row['n_faces']}), median steps"
              f" {row['median_steps']} (successful faces; all faces {row['median_steps_all']}), at most"
              f" {row['max_steps_taken']} steps; largest change / bound {row['max_abs_delta_over_bound']}.")
    band_line = ", ".join(f"{b} {100 * v:.1f} %" for b, v in shares.items())
    sections = [("Data and protocol", "\n".join(lines)), ("Fooling", result),
                ("Difference-map bands", f"{band_line}; faces whose map has at least three non-black bands of >= 5 %"
                                         f" of the changed pixels: {100 * row['faces_with_3_bands_of_5pct']:.1f} %."),
                ("Regions", table.markdown()), ("Summary", summary),
                ("Files", "\n".join(f"- [{f}]({f})" for f in files))]
    lines = [f"# Fooling and regions: {cfg['name']}", ""]
    for heading, text in sections:
        lines += [f"## {heading}", "", text.rstrip(), ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_number
from affectlab.data import load_dataset
from affectlab.data.media import read_image, to_gray
from affectlab.errors import ConfigError
from affectlab.experiments import runs, schema
from affectlab.experiments.config import names_the_file, read_raw_config, resolve_source
from affectlab.experiments.schema import Rule, integer, number, one_of, read_section, section_dict, setting
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

__all__ = ["FOOLING_KEYS", "DifferenceMap", "FoolingAttack", "FoolingConfig", "FoolingData", "FoolingFaces",
           "FoolingImages", "FoolingModel", "FoolingRegions", "load_fooling_config", "run_fooling_experiment"]

#: Columns of the one-line summary table (report and ``affectlab experiment`` output).
_SUMMARY_COLUMNS = ("feature", "classifier", "n_faces", "success_rate", "median_steps", "max_steps_taken",
                    "max_abs_delta_over_bound", "faces_with_3_bands_of_5pct", "band_gray", "band_yellow",
                    "band_orange", "band_red")

#: Top-level keys of a ``kind: fooling`` file (``run`` is provenance written by a run; ignored).
FOOLING_KEYS = ("kind", "name", "description", "data", "faces", "images", "model", "attack", "map", "regions",
                "figures", "run")
#: ``regions.cam`` -> (explainer class name in affectlab.explain, the name in tables)
_CAMS = {"gradcam": ("GradCAM", "Grad-CAM"), "layercam": ("LayerCAM", "LayerCAM")}
_BANDS = tuple(name for _, _, _, name in DIFFERENCE_BANDS)


@dataclass(frozen=True)
class FoolingData:
    """``data``: the dataset (resolved separately, ``--data`` replaces it) and the one split to keep (null: all)."""

    source: Any = None
    split: str | None = setting(None, schema.text("a split name").or_null())


@dataclass(frozen=True)
class FoolingFaces:
    """``faces``: which samples (ORL image numbers; null: all), the first ``n`` correctly classified (null: all)
    and the attack's batch size."""

    images: list[Any] | None = setting(None, Rule("a non-empty list of image numbers",
                                                  lambda v: isinstance(v, list) and bool(v)).or_null())
    n: int | None = setting(None, integer(1).or_null())
    batch_size: int = setting(32, integer(1))


@dataclass(frozen=True)
class FoolingImages:
    """``images``: ``square: edge`` pads every face to a square with its edge values before resizing."""

    square: str = setting("none", Rule(f"one of {', '.join(SQUARE_MODES)}", lambda v: v in SQUARE_MODES))


@dataclass(frozen=True)
class FoolingModel:
    """``model``: a weights file (its own network; ``name`` for a bare state dict) or a registered ``name``'s
    bundled weights (both null: the bundled expression model)."""

    name: str | None = setting(None, schema.text("a registered model name").or_null())
    weights: str | None = setting(None, schema.text("a weights file").or_null())


@dataclass(frozen=True)
class FoolingAttack:
    """``attack``: every pixel within ``bound`` of its original, until the target class reaches ``threshold`` or
    after ``max_steps`` steps of ``step_size`` (null: 1/255), ``method`` ``sign`` or ``scaled``."""

    bound: float = setting(0.15, number(0, 1, low_open=True))
    threshold: float = setting(0.9, number(0, 1, low_open=True))
    max_steps: int = setting(100, integer(1))
    step_size: float | None = setting(None, number(0, low_open=True).or_null())
    method: str = setting("scaled", one_of("sign", "scaled"))


@dataclass(frozen=True)
class DifferenceMap:
    """``map``: the colour scale of the difference maps and the bands whose pixels count as the fooling's."""

    scale: str | float = setting("rank", Rule(f"one of {', '.join(DIFFERENCE_SCALES)} or a number > 0",
                                              lambda v: v in DIFFERENCE_SCALES or (is_number(v) and v > 0)))
    top_bands: list[str] = setting(["orange", "red"], Rule(
        f"a non-empty list of {', '.join(_BANDS[1:])}",
        lambda v: isinstance(v, list) and bool(v) and all(b in _BANDS[1:] for b in v)))


@dataclass(frozen=True)
class FoolingRegions:
    """``regions``: the face layout and the class-activation maps (one or a list) compared with the fooling."""

    layout: str = setting("face48", Rule(f"one of {', '.join(REGION_LAYOUTS)}", lambda v: v in REGION_LAYOUTS))
    cam: list[str] = setting("gradcam", Rule(
        f"one or a list of {', '.join(_CAMS)}",
        lambda v: isinstance(v, str) and v in _CAMS or (isinstance(v, list) and bool(v) and all(
            c in _CAMS for c in v) and len(set(v)) == len(v)),
        convert=lambda v: [v] if isinstance(v, str) else list(v)))
    cam_layer: str | None = setting(None, schema.text("a layer name").or_null())


@dataclass(frozen=True)
class FoolingConfig:
    """A validated ``kind: fooling`` file: the dataset (absolute), every section typed, ``figures`` (faces drawn)."""

    name: Any
    source: Path
    data: FoolingData
    faces: FoolingFaces
    images: FoolingImages
    model: FoolingModel
    attack: FoolingAttack
    map: DifferenceMap
    regions: FoolingRegions
    figures: int = 6
    description: Any = None
    path: Path | None = None

    @property
    def base(self) -> Path | None:
        """The config file's folder (a relative ``model.weights`` resolves against it first)."""
        return Path(self.path).resolve().parent if self.path else None

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml``; the runner adds the model it loaded and the ``run`` provenance)."""
        described = {"description": self.description} if self.description else {}
        return {"kind": "fooling", "name": self.name, **described,
                "data": {**section_dict(self.data), "source": str(self.source)}, "faces": section_dict(self.faces),
                "images": section_dict(self.images), "model": section_dict(self.model),
                "attack": section_dict(self.attack), "map": section_dict(self.map),
                "regions": section_dict(self.regions), "figures": self.figures}


@names_the_file
def load_fooling_config(config: Mapping[str, Any] | str | Path, data: str | Path | None = None) -> FoolingConfig:
    """Read config stage: the file (or the mapping read from it) checked as a whole; ``data`` replaces
    ``data.source``."""
    raw, path = read_raw_config(config)
    schema.refuse_unknown_keys(raw, FOOLING_KEYS, FOOLING_KEYS[:-1])
    data_cfg = read_section(raw, "data", FoolingData)
    sections = {"faces": read_section(raw, "faces", FoolingFaces), "model": read_section(raw, "model", FoolingModel),
                "attack": read_section(raw, "attack", FoolingAttack),
                "map": read_section(raw, "map", DifferenceMap), "regions": read_section(raw, "regions", FoolingRegions)}
    figures = integer(0).check(raw.get("figures", 6), "figures")
    images = read_section(raw, "images", FoolingImages)
    base = Path(path).resolve().parent if path else None
    source = data if data is not None else data_cfg.source
    source_path = resolve_source(str(source) if source is not None else source, base if data is None else None,
                                 "--data" if data is not None else "data.source")
    return FoolingConfig(name=raw.get("name", "fooling"), source=source_path, data=data_cfg, images=images,
                         figures=int(figures), description=raw.get("description"), path=path, **sections)


def _load_model(model_cfg: FoolingModel, base: Path | None):
    """The network of ``model``: a weights file (its own network, or ``name`` for a bare state dict), else the
    bundled weights of ``name`` (default: the bundled expression model)."""

    name, weights = model_cfg.name, model_cfg.weights
    if weights is not None:
        path = resolve_source(str(weights), base, "model.weights", what="weights file")
        if name is not None:
            check_weights_network(path, str(name), option="model.name")
        return load_model(path, fallback=str(name or DEFAULT_MODEL)), str(path)
    return create_model(str(name or DEFAULT_MODEL), pretrained=True), None


def _faces(dataset, cfg: FoolingConfig, model) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, C, H, W) uint8, indices into dataset.samples)`` of the selected samples, sized for ``model``."""

    split, numbers = cfg.data.split, cfg.faces.images
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
    images = prepare_faces(raw, tuple(model.config.input_size), cfg.images.square)
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


    cfg = load_fooling_config(config, data)
    model, weights_path = _load_model(cfg.model, cfg.base)
    model.eval()
    run = runs.RunFolder(out_dir, overwrite=overwrite)

    dataset = load_dataset(cfg.source)
    images, index = _faces(dataset, cfg, model)
    names = list(model.config.class_names)
    labels = np.array([dataset.samples[i].label for i in index], dtype=object)
    if not set(labels.tolist()) & set(names):
        raise ConfigError(f"the dataset's labels ({', '.join(sorted(map(str, set(labels.tolist())))[:5])}...) are "
                          f"not classes of {model.config.name} ({', '.join(names[:5])}...)")
    pred = predict_proba(model, images, device="cpu").argmax(1)
    correct = np.flatnonzero(np.array(names, dtype=object)[pred] == labels)
    n_classified = len(index)
    accuracy = len(correct) / n_classified
    if cfg.faces.n is not None:
        correct = correct[: int(cfg.faces.n)]
    if not len(correct):
        raise ConfigError(f"{model.config.name} classifies none of the {n_classified} selected faces correctly")
    attacked = _attack(model, images[correct], cfg, progress=progress)
    bands = _bands(attacked["original"], attacked["adversarial"], cfg.map)
    sources = {"fooling top bands": bands["top_masks"],
               **_cam_sources(model, attacked["original"], cfg.regions, int(cfg.faces.batch_size))}
    masks = region_masks(cfg.regions.layout, tuple(model.config.input_size))
    table = region_table(masks, sources)
    row = _summary_row(model, cfg, attacked, bands, table, n_classified=n_classified, accuracy=accuracy)
    out = run.create()
    with open(out / "fooling.jsonl", "w", encoding="utf-8") as sink:
        for k, rec in zip(correct, attacked["records"]):
            sink.write(json.dumps({"id": dataset.samples[index[k]].id, "label": str(labels[k]), **rec}) + "\n")
    files = _write_figures(out, attacked["original"], attacked["adversarial"], correct, index, dataset, cfg,
                           table, masks, attacked["records"])
    (out / "regions.csv").write_text(_csv(table.rows()), encoding="utf-8")
    resolved = cfg.to_dict()
    resolved["model"].update(weights=weights_path, network=model.config.name,
                             input_size=list(model.config.input_size))
    resolved["run"] = run.provenance(config_path=cfg.path, packages=("torch",), threads=torch.get_num_threads(),
                                     data_sha256=dataset.fingerprint(), seconds=round(run.elapsed, 1))
    run.write_config(resolved)
    run.write_metrics({"rows": [row], "band_shares": bands["mean_shares"], "regions": table.rows(),
                       "regions_n_faces": table.n_faces})
    summary = runs.scalar_table([row], _SUMMARY_COLUMNS)
    _write_report(out, cfg, resolved["model"], row, bands["mean_shares"], table, files, summary)
    return run.result([row], resolved, n_folds=1, markdown=summary + "\n\n" + table.markdown())


def _attack(model: Any, faces: np.ndarray, cfg: FoolingConfig, *, progress: bool) -> dict[str, Any]:
    """Fool every face (in batches of ``faces.batch_size``) towards its most likely wrong class."""
    from tqdm.auto import tqdm


    attack, bs = cfg.attack, int(cfg.faces.batch_size)
    results = []
    for start in tqdm(range(0, len(faces), bs), desc="fooling", unit="batch", disable=not progress):
        results.append(fool(model, faces[start: start + bs], bound=float(attack.bound),
                            threshold=float(attack.threshold), max_steps=int(attack.max_steps),
                            step_size=attack.step_size, method=attack.method))
    names = list(model.config.class_names)
    return {"original": np.concatenate([r.original for r in results]),
            "adversarial": np.concatenate([r.adversarial for r in results]),
            "success": np.concatenate([r.success for r in results]),
            "steps": np.concatenate([r.steps for r in results]),
            "records": [rec for r in results for rec in r.to_records(names)]}


def _bands(original: np.ndarray, adversarial: np.ndarray, dmap: DifferenceMap) -> dict[str, Any]:
    """The difference maps' band shares per face (and their mean) and each face's mask of the top bands."""

    scale = dmap.scale
    band_names = list(_BANDS)
    top_index = [band_names.index(b) for b in dmap.top_bands]
    shares, top_masks = [], []
    for o, a in zip(original, adversarial):
        o2, a2 = o.transpose(1, 2, 0), a.transpose(1, 2, 0)
        shares.append(band_shares(o2, a2, scale=scale))
        top_masks.append(np.isin(difference_bands(o2, a2, scale=scale, neighbours=False), top_index))
    return {"mean_shares": {b: float(np.mean([s[b] for s in shares])) for b in band_names},
            "three_bands": [sum(s[b] >= 0.05 for b in band_names[1:]) >= 3 for s in shares],
            "top_masks": np.stack(top_masks).astype(np.float64)}


def _cam_sources(model: Any, original: np.ndarray, regions: FoolingRegions, bs: int) -> dict[str, np.ndarray]:
    """Each configured CAM's heat maps of the originally predicted class, by its table name."""
    from affectlab import explain

    sources = {}
    for key in regions.cam:
        cam_class, cam_name = _CAMS[key]
        with getattr(explain, cam_class)(model, regions.cam_layer) as cam:
            sources[cam_name] = np.concatenate([cam(original[s: s + bs]).maps for s in range(0, len(original), bs)])
    return sources


def _summary_row(model: Any, cfg: FoolingConfig, attacked: Mapping[str, Any], bands: Mapping[str, Any], table: Any,
                 *, n_classified: int, accuracy: float) -> dict[str, Any]:
    """Metrics stage: the run's one results row."""
    attack, original, success, steps = cfg.attack, attacked["original"], attacked["success"], attacked["steps"]
    delta = np.abs(attacked["adversarial"] - original).reshape(len(original), -1).max(axis=1)
    return {"feature": model.config.name, "classifier": f"fooling_{attack.method}",
            "n_classified": n_classified, "classified_accuracy": round(accuracy, 4), "n_faces": len(original),
            "success_rate": round(float(success.mean()), 4), "n_success": int(success.sum()),
            "median_steps": float(np.median(steps[success])) if success.any() else None,
            "median_steps_all": float(np.median(steps)), "max_steps_taken": int(steps.max()),
            "max_abs_delta_over_bound": round(float(delta.max() / attack.bound), 4),
            "faces_with_3_bands_of_5pct": round(float(np.mean(bands["three_bands"])), 4),
            **{f"empty_maps_{_CAMS[k][1]}": len(original) - table.n_faces[_CAMS[k][1]]
               for k in cfg.regions.cam},
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
                   dataset, cfg: FoolingConfig, table, masks, records: list[dict]) -> list[str]:
    """The pre / map / post figures of the first faces (stacked in ``fooling_panel.png``), ``regions.png`` and
    ``region_layout.png`` (the regions over the attacked faces' mean)."""

    files = []
    n, scale = min(cfg.figures, len(original)), cfg.map.scale
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
    save_region_plot(table, out / "regions.png", title=f"{cfg.regions.layout} regions")
    mean_face = np.clip(np.rint(original[:, 0].mean(axis=0) * 255), 0, 255).astype(np.uint8)
    save_rgb(region_layout_image(mean_face, masks), out / "region_layout.png")
    return files + ["regions.png", "region_layout.png", "regions.csv", "fooling.jsonl"]


def _write_report(out: Path, cfg: FoolingConfig, model: Mapping[str, Any], row: Mapping[str, Any],
                  shares: Mapping[str, float], table, files: list[str], summary: str) -> None:
    """``report.md``; ``model`` is the resolved ``model`` section (with the network loaded and its input size)."""
    attack, faces, regions = cfg.attack, cfg.faces, cfg.regions
    selection = ", ".join(filter(None, [f"split {cfg.data.split}" if cfg.data.split else "",
                                        f"image numbers {faces.images}" if faces.images else ""])) or "all"
    lines = [
        f"- data: `{cfg.source}` ({selection}: {row['n_classified']} faces), sized to"
        f" {model['input_size']}" + (" after padding to a square with edge values" if
                                     cfg.images.square == "edge" else "") + ".",
        f"- model: {model['network']}"
        + (f" from `{model['weights']}`" if model["weights"] else " (bundled weights)")
        + f"; it classifies {row['classified_accuracy']:.4f} of the selected faces correctly.",
        f"- attacked: the {'first ' + str(faces.n) + ' ' if faces.n else ''}correctly classified faces"
        f" ({row['n_faces']}), each towards its most likely wrong class; {attack.method} steps of"
        f" {attack.step_size or '1/255'}, every pixel within {attack.bound} of its original (value range"
        f" [0, 1]); success = that class reaches probability >= {attack.threshold} within {attack.max_steps}"
        " steps.",
        f"- difference maps: scale `{cfg.map.scale}`; band shares are each face's changed pixels per colour band"
        " as drawn (neighbours coloured), averaged over faces.",
        f"- regions: layout `{regions.layout}` (affectlab.explain.regions); fooling = share of the"
        f" {'+'.join(cfg.map.top_bands)} pixels (before neighbours are coloured);"
        f" {', '.join(_CAMS[k][1] for k in regions.cam)} = share of the heat of the originally predicted"
        f" class on the layer {regions.cam_layer or 'of the model config (cam_layer)'}; all averaged over"
        " the attacked faces, a face whose heat map is all zero left out ("
        + ", ".join(f"{_CAMS[k][1]}: {row['empty_maps_' + _CAMS[k][1]]}" for k in regions.cam)
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
    lines = [f"# Fooling and regions: {cfg.name}", ""]
    for heading, text in sections:
        lines += [f"## {heading}", "", text.rstrip(), ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")

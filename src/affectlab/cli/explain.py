"""``affectlab explain`` (explanation panel) and ``affectlab fool`` (bounded fooling attack)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from affectlab.errors import AffectLabError, ConfigError, NoFaceError
from affectlab.outputs import check_not_input, record_outputs

__all__ = ["explain_command", "fool_command"]

SAMPLE_SOURCE = "skimage.data.astronaut"


@dataclass
class _Face:
    source: str
    index: int
    box: list[int]
    crop: np.ndarray  # uint8 (H, W) or (H, W, C), the model's input size


def _input_paths(inputs: tuple[str, ...]) -> list[Path]:
    """The files (and image-less folders) the inputs stand for; none for the sample photograph."""
    from affectlab.cli.analyze import expand_inputs

    return expand_inputs(inputs, keep_empty_folders=True) if inputs else []


def _whole_image_face(analyzer, image: np.ndarray) -> list:
    """The whole ``image`` as the one face: padded to a square with its edge values and resized to the model's
    face size, as ``kind: identity`` frames ORL images (no detection, no alignment)."""
    from affectlab.data.media import to_gray
    from affectlab.face import AlignedFace, FaceBox
    from affectlab.identity.images import prepare_faces
    from affectlab.models import face_size

    height, width = image.shape[:2]
    framed = to_gray(image) if analyzer.model.config.channels == 1 else image
    size = face_size(analyzer.model)  # (height, width)
    crop = prepare_faces([framed], size, square="edge")[0]
    side = max(height, width)
    sx, sy = size[1] / side, size[0] / side
    transform = np.array([[sx, 0.0, sx * ((side - width) // 2)], [0.0, sy, sy * ((side - height) // 2)]])
    return [AlignedFace(box=FaceBox(0, 0, width, height), image=crop, eyes=None, angle=0.0, aligned=False,
                        transform=transform)]


def _collect_faces(analyzer, inputs: tuple[str, ...], progress: bool | None,
                   paths: list[Path] | None = None, whole_image: bool = False) -> tuple[list[_Face], list[dict]]:
    """Faces of every input (the sample photograph when none) and one error record per bad input.

    Bad files and image-less folders are reported on stderr and returned as
    ``{"source", "status": "error", "error"}`` records, never fatal; inputs without a face get a
    warning on stderr.
    """
    from affectlab.cli.analyze import empty_folder_message
    from affectlab.data.media import read_image, sample_photo, to_gray

    paths = _input_paths(inputs) if paths is None else paths

    def images() -> Iterator[tuple[str, np.ndarray | None, str | None]]:
        if not inputs:
            yield SAMPLE_SOURCE, sample_photo(), None
            return
        for path in paths:
            if path.is_dir():
                yield str(path), None, empty_folder_message(path)
                continue
            try:
                yield str(path), read_image(path, mode="rgb"), None
            except AffectLabError as exc:
                yield str(path), None, str(exc)

    total = len(paths) if inputs else 1
    faces: list[_Face] = []
    failures: list[dict] = []
    gray = analyzer.model.config.channels == 1
    for source, image, error in tqdm(images(), total=total, unit="image", desc="faces",
                                     disable=not (progress if progress is not None else total > 1)):
        if image is None:
            failures.append({"source": source, "status": "error", "error": error})
            tqdm.write(f"affectlab: error: {error}", file=sys.stderr)
            continue
        found = _whole_image_face(analyzer, image) if whole_image else analyzer.preprocess(image)
        if not found:
            tqdm.write(f"affectlab: warning: {source}: no face found (try --whole-frame for face crops)",
                       file=sys.stderr)
            continue
        for k, face in enumerate(found):
            crop = to_gray(face.image) if gray and face.image.ndim == 3 else face.image
            faces.append(_Face(source, k, face.box.as_list(), crop))
    return faces, failures


def _require_faces(faces: list[_Face], inputs: tuple[str, ...]) -> None:
    if not faces:
        raise NoFaceError("no face found in any input" + ("" if inputs else " (the sample photograph)"))


_common = [
    click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model)."),
    click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Checkpoint to load instead of the bundled weights."),
    click.option("--max-faces", type=click.IntRange(min=1), default=None,
                 help="Keep at most N faces per image (largest first)."),
    click.option("--whole-frame", is_flag=True,
                 help="If no face is found, use the whole image as the face (for pre-cropped faces)."),
    click.option("--whole-image", is_flag=True,
                 help="Skip face detection: every image is one face, padded to a square with its edge values and "
                      "resized to the model's input (how the ORL identity models of `kind: identity` see faces)."),
    click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda."),
    click.option("--progress/--no-progress", default=None,
                 help="Progress bars on stderr (default: when several inputs)."),
]


def _with_common(func):
    for option in reversed(_common):
        func = option(func)
    return func


def _analyzer(model_name, weights, max_faces, whole_frame, device):
    """The face front-end and network: ``--weights`` alone runs the file's own network with its own classes (an
    identity model's subjects, say); with ``--model`` too the two must agree."""
    from affectlab.analysis import ExpressionAnalyzer
    from affectlab.models import DEFAULT_MODEL, check_weights_network
    from affectlab.models.checkpoint import load_model

    if weights is None:
        return ExpressionAnalyzer(model_name or DEFAULT_MODEL, max_faces=max_faces, whole_frame=whole_frame,
                                  device=device)
    if model_name is not None:  # an explicit --model must be the file's network
        check_weights_network(weights, model_name)
    model = load_model(weights, fallback=model_name or DEFAULT_MODEL, option="--weights")
    return ExpressionAnalyzer(model, max_faces=max_faces, whole_frame=whole_frame, device=device)


@click.command("explain")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--out", "-o", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("panel.png"),
              show_default=True, help="Panel image to write (PNG or JPEG).")
@click.option("--layer", default=None, help="Layer for Grad-CAM (default: the model's CAM layer).")
@click.option("--cell", type=click.IntRange(min=48), default=144, show_default=True,
              help="Side of one panel cell in pixels.")
@_with_common
def explain_command(inputs, out_path, layer, cell, model_name, weights, max_faces, whole_frame, whole_image, device,
                     progress):
    """Explain the expression predicted for every face, as one panel image.

    Each face gets one row: face | predicted label | probability | guided
    backpropagation | Grad-CAM overlay | guided Grad-CAM (Grad-CAM from the
    model's default CAM layer unless --layer names another). One JSON line per
    face (source, face index, box, label, probability) goes to standard output.

    INPUT is an image file or a folder of images; with no INPUT the built-in
    sample photograph (scikit-image's astronaut) is explained. Unreadable files
    are reported on stderr, the panel is still written for the others, and the
    exit status is 1.

    \b
    Examples:
      affectlab explain --out panel.png
      affectlab explain photo.jpg group.png --out panel.png
      affectlab explain faces/ --whole-frame --layer blocks.2 --model mini_xception --out panel.png
    """
    from affectlab.cli.analyze import unique_stem
    from affectlab.explain import explain_all
    from affectlab.viz.overlay import check_image_path, save_rgb
    from affectlab.viz.panel import PanelRow, explanation_panel

    check_image_path(out_path)
    paths = _input_paths(inputs)
    check_not_input(out_path, paths, option="--out")
    analyzer = _analyzer(model_name, weights, max_faces, whole_frame, device)
    faces, failures = _collect_faces(analyzer, inputs, progress, paths, whole_image)
    for record in failures:
        click.echo(json.dumps(record))
    _require_faces(faces, inputs)
    crops = np.stack([f.crop for f in faces])
    if crops.ndim == 4:
        crops = crops.transpose(0, 3, 1, 2)
    names = analyzer.class_names
    rows, batch = [], 32
    bar = tqdm(range(0, len(faces), batch), unit="batch", desc="explaining",
               disable=not (progress if progress is not None else len(faces) > batch))
    for start in bar:
        out = explain_all(analyzer.model, crops[start: start + batch], layer=layer)
        cam, gb, ggc = out["gradcam"], out["guided_backprop"], out["guided_gradcam"]
        for i, face in enumerate(faces[start: start + batch]):
            label = names[int(cam.targets[i])]
            p = float(cam.probabilities[i, cam.targets[i]])
            rows.append(PanelRow(face.crop, label, p, gb.maps[i], cam.maps[i], ggc.maps[i]))
            click.echo(json.dumps({"source": face.source, "face": face.index, "box": face.box, "label": label,
                                   "probability": round(p, 4), "layer": cam.layer, "status": "ok"}))
    stems: dict[str, str] = {}
    captions = [f"{unique_stem(f.source, stems)}#{f.index}" for f in faces]
    save_rgb(explanation_panel(rows, cell=cell, captions=captions), out_path)
    click.echo(f"panel: {out_path} ({len(rows)} face(s))", err=True)
    if failures:
        click.get_current_context().exit(1)


FOOLING_LOG = "fooling.jsonl"


def _check_fool_outputs(out_dir: Path, paths: list[Path], inputs: tuple[str, ...]) -> None:
    """Refuse, before any work, a ``fool --out`` folder where an output would overwrite an input: the log, or
    an input named like a figure of this run (``<name>_face<k>_fooling.png``, ``..._adversarial.png``)."""
    import re

    from affectlab.cli.analyze import unique_stem

    files = [p for p in paths if not p.is_dir()]
    check_not_input(out_dir / FOOLING_LOG, files, option="--out")
    stems: dict[str, str] = {}
    for source in [str(p) for p in files] if inputs else [SAMPLE_SOURCE]:
        unique_stem(source, stems)
    pattern = re.compile("(" + "|".join(re.escape(s) for s in stems.values()) + r")_face\d+_(fooling|adversarial)\.png")
    for path in files:
        if pattern.fullmatch(path.name) and path.parent.resolve() == out_dir.resolve():
            raise ConfigError(f"--out {out_dir}: the input {path} is named like an output of this run and would be "
                              "overwritten; choose another --out folder")


@click.command("fool")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the figures, adversarial faces and fooling.jsonl.")
@click.option("--target", "target_name", default=None,
              help="Class to reach, by name (default: the most likely wrong class of each face).")
@click.option("--bound", type=click.FloatRange(min=0, max=1, min_open=True), default=0.15, show_default=True,
              help="Largest change of a pixel, as a fraction of the value range.")
@click.option("--threshold", type=click.FloatRange(min=0, max=1, min_open=True), default=0.90, show_default=True,
              help="Stop once the target class has at least this probability.")
@click.option("--max-steps", type=click.IntRange(min=1), default=100, show_default=True, help="Step limit per face.")
@click.option("--step-size", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Change per step in [0, 1] pixel units [default: 1/255].")
@click.option("--method", type=click.Choice(["scaled", "sign"]), default="scaled", show_default=True,
              help="scaled: each pixel's step follows its gradient's strength (the difference map shows where the "
                   "model is sensitive); sign: every pixel moves a full step along its gradient's sign (fewer "
                   "steps, nearly every pixel ends at the bound).")
@click.option("--scale", "map_scale", type=click.Choice(["rank", "max"]), default="rank", show_default=True,
              help="Difference map: rank colours each face's changes by their rank (the bands hold fixed shares); "
                   "max scales the largest change to 255.")
@_with_common
def fool_command(inputs, out_dir, target_name, bound, threshold, max_steps, step_size, method, map_scale, model_name,
                 weights, max_faces, whole_frame, whole_image, device, progress):
    """Fool a classifier: nudge every face towards a wrong class.

    The expression model by default; --model names any registered
    classifier, and --weights runs a weights file's own network with its
    own classes (e.g. the ORL identity model of `affectlab experiment
    configs/orl-identity.yaml`: its model.pt, faces pushed to another person).
    Iterative gradient steps on the target class's log-probability, with
    every pixel kept within --bound (15 % of the value range by default) of
    its original, until the target class reaches --threshold (0.90) or
    --max-steps. For each face, DIR gets <name>_face<k>_fooling.png (original |
    difference map | adversarial) and <name>_face<k>_adversarial.png, and one
    JSON line (also printed) goes to DIR/fooling.jsonl: classes, success,
    steps, final probability, largest change, the probability history and
    the share of the changed pixels in each colour band.

    Difference map: |adversarial - original| as gray 0-255 (by default each
    changed pixel's rank among the face's changes, so the black band holds
    the 59 % smallest changes, then gray 12 %, yellow 8 %, orange 10 %, red
    12 %; --scale max: the largest change is 255), coloured <= 150 black,
    151-180 gray, 181-200 yellow, 201-225 orange, 226-255 red; each pixel
    above 150 also colours its 8 neighbours.

    INPUT is an image or a folder; with no INPUT the built-in sample photograph
    is used.

    \b
    Examples:
      affectlab fool --out fooled/
      affectlab fool photo.jpg --target sad --out fooled/
      affectlab fool faces/ --whole-frame --bound 0.05 --out fooled/
      affectlab fool photo.jpg --method sign --scale max --out fooled/
      affectlab fool s1/8.pgm --whole-image --weights runs/orl-identity/model.pt --out fooled/
    """
    from affectlab.cli.analyze import unique_stem
    from affectlab.explain import band_shares, fool
    from affectlab.viz.fooling import save_fooling_figure
    from affectlab.viz.heatmap import to_uint8
    from affectlab.viz.overlay import save_rgb

    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    paths = _input_paths(inputs)
    _check_fool_outputs(out_dir, paths, inputs)
    analyzer = _analyzer(model_name, weights, max_faces, whole_frame, device)
    names = list(analyzer.class_names)
    target = None
    if target_name is not None:
        if target_name not in names:
            raise ConfigError(f"--target {target_name!r} is not a class of the model ({', '.join(names)})")
        target = names.index(target_name)
    faces, failures = _collect_faces(analyzer, inputs, progress, paths, whole_image)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_outputs(out_dir, [FOOLING_LOG])
    stems: dict[str, str] = {}
    batch = 64
    with open(out_dir / FOOLING_LOG, "w", encoding="utf-8") as sink:
        for record in failures:
            sink.write(json.dumps(record) + "\n")
            click.echo(json.dumps(record))
        _require_faces(faces, inputs)
        crops = np.stack([f.crop for f in faces])
        if crops.ndim == 4:
            crops = crops.transpose(0, 3, 1, 2)
        bar = tqdm(range(0, len(faces), batch), unit="batch", desc="fooling",
                   disable=not (progress if progress is not None else len(faces) > batch))
        for start in bar:
            result = fool(analyzer.model, crops[start: start + batch], target, bound=bound, threshold=threshold,
                          max_steps=max_steps, step_size=step_size, method=method)
            for i, (face, record) in enumerate(zip(faces[start: start + batch], result.to_records(names))):
                name = f"{unique_stem(face.source, stems)}_face{face.index}"
                record_outputs(out_dir, [f"{name}_fooling.png", f"{name}_adversarial.png"])
                save_fooling_figure(out_dir / f"{name}_fooling.png", result.original[i], result.adversarial[i],
                                    scale=map_scale)
                shares = band_shares(result.original[i].transpose(1, 2, 0), result.adversarial[i].transpose(1, 2, 0),
                                     scale=map_scale)
                record["bands"] = {b: round(v, 4) for b, v in shares.items()}
                adversarial = to_uint8(result.adversarial[i].transpose(1, 2, 0))
                save_rgb(adversarial[..., 0] if adversarial.shape[2] == 1 else adversarial,
                         out_dir / f"{name}_adversarial.png")
                line = json.dumps({"source": face.source, "face": face.index, "box": face.box, **record,
                                   "figure": f"{name}_fooling.png", "status": "ok"})
                sink.write(line + "\n")
                click.echo(line)
                if record["target"] == record["original_class"]:
                    tqdm.write(f"affectlab: warning: {face.source} face {face.index} is already "
                               f"'{record['target']}'; left unchanged (success false)", file=sys.stderr)
    if failures:
        click.get_current_context().exit(1)

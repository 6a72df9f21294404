"""``affectlab analyze``: faces and expressions in images, one JSON line per input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm.auto import tqdm

from affectlab.data.media import IMAGE_SUFFIXES, sample_photo
from affectlab.errors import ConfigError

__all__ = ["analyze_command", "expand_inputs"]

SAMPLE_SOURCE = "skimage.data.astronaut"


def expand_inputs(inputs: tuple[str, ...]) -> list[Path]:
    """Files as given; folders expand to the images inside them (recursively, sorted)."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ConfigError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths.extend(found)
        else:
            paths.append(path)  # missing/corrupt files become per-item errors, not a crash
    return paths


def _annotated_name(source: str, index: int, used: set[str]) -> str:
    stem = Path(source).stem if source != SAMPLE_SOURCE else "astronaut"
    name = f"{stem}_annotated.png"
    if name in used:
        name = f"{stem}_{index}_annotated.png"
    used.add(name)
    return name


@click.command("analyze")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint to load instead of the bundled weights.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write an annotated copy of each image into this folder.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON lines to this file instead of standard output.")
@click.option("--max-faces", type=click.IntRange(min=1), default=None, help="Keep at most N faces per image (largest first).")
@click.option("--whole-frame", is_flag=True,
              help="If no face is found, classify the whole image as one face (for pre-cropped faces).")
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when several inputs).")
def analyze_command(
    inputs: tuple[str, ...],
    model_name: str | None,
    weights: Path | None,
    save_dir: Path | None,
    output: Path | None,
    max_faces: int | None,
    whole_frame: bool,
    device: str,
    progress: bool | None,
) -> None:
    """Detect faces, align and crop them, and classify 7 expressions.

    Prints one JSON object per input (JSON Lines):

    \b
      {"source": "photo.jpg", "status": "ok",
       "faces": [{"box": [x, y, w, h], "label": "happy",
                  "probabilities": {"angry": p, ..., "neutral": p}}], ...}

    status is "ok", "no_face" (no face found) or "error" (unreadable file, with
    "error" naming it). A bad file never stops the batch: its line says error,
    the problem is also printed on stderr, and the exit status is 1.

    INPUT is an image file or a folder of images. With no INPUT the built-in sample
    photograph (scikit-image's astronaut) is analysed.

    \b
    Examples:
      affectlab analyze
      affectlab analyze photo.jpg group.png --save annotated/
      affectlab analyze faces/ --whole-frame -o results.jsonl
    """
    from affectlab.analysis import DEFAULT_MODEL, ExpressionAnalyzer
    from affectlab.viz.overlay import draw_faces, save_rgb

    analyzer = ExpressionAnalyzer(
        model_name or DEFAULT_MODEL, weights=weights, max_faces=max_faces, whole_frame=whole_frame, device=device
    )
    if inputs:
        paths = expand_inputs(inputs)
        items = analyzer.analyze_many(paths)
        total = len(paths)
    else:
        image = sample_photo()
        items = iter([(analyzer.analyze(image, source=SAMPLE_SOURCE), image)])
        total = 1
    show_bar = progress if progress is not None else total > 1
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout
    errors, used_names = 0, set()
    try:
        for index, (result, image) in enumerate(tqdm(items, total=total, disable=not show_bar, unit="image")):
            sink.write(json.dumps(result.to_dict()) + "\n")
            sink.flush()
            if result.status == "error":
                errors += 1
                tqdm.write(f"affectlab: error: {result.error}", file=sys.stderr)
            if save_dir is not None and image is not None:
                annotated = draw_faces(
                    image,
                    [f.box.as_list() for f in result.faces],
                    [f.label for f in result.faces],
                    [f.probabilities[f.label] for f in result.faces],
                )
                save_rgb(annotated, save_dir / _annotated_name(result.source, index, used_names))
    finally:
        if output:
            sink.close()
    if errors:
        click.get_current_context().exit(1)

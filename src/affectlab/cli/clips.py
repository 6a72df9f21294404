"""``affectlab clips``: clip classifiers (fit one on labelled clips, for ``affectlab analyze --clip-model``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from affectlab.errors import ConfigError

__all__ = ["clips_group"]


@click.group("clips")
def clips_group() -> None:
    """Video clips as aligned face volumes: fit a clip classifier.

    A clip becomes the main face's aligned volume (tracked with the landmark
    front-end, eyes at fixed positions, resampled to --frames frames of
    --size pixels); a sequence descriptor of the volume goes to a classifier.
    See docs/clips.md.
    """


def _parse_params(text: str | None, option: str) -> dict:
    if not text:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option}: not a JSON object ({exc.msg}): {text!r}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{option}: expected a JSON object such as '{{\"levels\": 3}}', got {text!r}")
    return params


@clips_group.command("fit")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Clip model file to write (joblib); an existing file is refused unless --overwrite.")
@click.option("--feature", default="lbp_top", show_default=True,
              help="Sequence descriptor: lbp_top, lpq_top, sift_top, sift_lbp or pooled (docs/clips.md).")
@click.option("--feature-params", default=None, help="Descriptor parameters as JSON, e.g. '{\"levels\": 3}'.")
@click.option("--classifier", default="linear_svm", show_default=True,
              help="Classifier of the registry (its C is chosen by inner cross-validation split by subject).")
@click.option("--frames", type=click.IntRange(min=1), default=3, show_default=True, help="Frames of each volume.")
@click.option("--size", type=click.IntRange(min=8), default=48, show_default=True, help="Side of each frame, pixels.")
@click.option("--name", default=None, help="Model name shown by `affectlab analyze --clip-model` (default: "
                                            "FEATURE+CLASSIFIER).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for reading the clips.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def fit_command(source: Path, out: Path, feature: str, feature_params: str | None, classifier: str, frames: int,
                size: int, name: str | None, jobs: int, overwrite: bool, progress: bool | None) -> None:
    """Fit a clip classifier on labelled clips and save it.

    SOURCE is a manifest CSV (path,label[,subject]), a folder with one
    sub-folder of clips per class, or one clip. Refused clips (no face, too
    short, unreadable) are listed on stderr and left out; the others are used.

    \b
    Examples:
      affectlab clips fit clips/manifest.csv --out ck-clips.joblib
      affectlab clips fit clips/ --feature lpq_top --frames 3 --size 48 --out lpq.joblib
      affectlab analyze new.mp4 --clip-model ck-clips.joblib
    """
    from affectlab.clips import ClipModel, list_clips, load_clips, save_clip_model
    from affectlab.outputs import check_not_input

    items = list_clips(source)  # the clips a manifest names may lie outside its folder
    check_not_input(out, [source, *(item.path for item in items)], option="--out")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out}: file exists; give --overwrite to replace it")
    model = ClipModel(feature, _parse_params(feature_params, "--feature-params"), classifier,
                      volume={"frames": frames, "size": size}, name=name)
    show = progress if progress is not None else sys.stderr.isatty()
    clips = load_clips(items, model.volume, n_jobs=jobs, progress=show)
    for refusal in clips.refused:
        click.echo(f"affectlab: warning: {refusal.message}", err=True)
    model.fit(clips)
    written = save_clip_model(model, out)
    click.echo(json.dumps({"model": str(written), "name": model.name, "classes": model.classes_,
                           **model.trained_on_}))

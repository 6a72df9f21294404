"""``affectlab experiment CONFIG.yaml --out DIR [--data PATH] [--jobs N] [--cache DIR | --no-cache]``."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

__all__ = ["experiment_command", "config_paths"]


#: Config keys whose string values name files or folders even without a ``/`` or a suffix (``source: data``).
_PATH_KEYS = ("source", "path", "dir", "weights", "init", "file", "checkpoint", "manifest")


def config_paths(config: Path) -> list[Path]:
    """Existing files and folders a YAML config names (data sources, weights, manifests ...): every string
    value that looks like a path (has a ``/`` or a file suffix, or sits under a key such as ``source``) and
    exists relative to the config's folder, else the CWD. A config that cannot be read gives none (the
    experiment reports it)."""
    import yaml

    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    found: list[Path] = []

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, str(name).lower())
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif (isinstance(value, str) and value.strip() and "\n" not in value
              and ("/" in value or Path(value).suffix or any(k in key for k in _PATH_KEYS))):
            raw_path = Path(value).expanduser()
            for candidate in ([raw_path] if raw_path.is_absolute() else [config.parent / raw_path, raw_path]):
                try:
                    if candidate.exists():
                        found.append(candidate)
                        break
                except OSError:  # a name too long for a path, say
                    break

    walk(raw)
    return found


@click.command("experiment")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to create (must be new or empty unless --overwrite).")
@click.option("--data", "data", type=click.Path(path_type=Path), default=None,
              help="Dataset file or folder; overrides data.source of the config.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty run folder.")
@click.option("--jobs", "-j", "n_jobs", type=int, default=-1, show_default=True,
              help="Processes for feature extraction and folds (-1: all cores, 1: no parallelism).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache folder [default: $AFFECTLAB_CACHE_DIR/features, else "
                   "$XDG_CACHE_HOME/affectlab/features, else ~/.cache/affectlab/features].")
@click.option("--no-cache", is_flag=True, help="Compute every feature afresh; read and write no cache.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr.")
def experiment_command(config: Path, out_dir: Path, data: Path | None, overwrite: bool, n_jobs: int,
                       cache_dir: Path | None, no_cache: bool, progress: bool) -> None:
    """Run a subject-independent experiment described by a YAML CONFIG.

    Images are loaded once (gray), each feature is computed once (in parallel,
    and kept in a feature cache keyed by the images' content and the extractor's
    parameters and code), then every feature x classifier pair is fitted on each
    fold's training part and tested on its test part; the pooled predictions give
    accuracy, UAR and macro-F1. Features that learn (codebooks) are fitted on each
    fold's training part only. The run folder gets config.yaml, metrics.json,
    predictions.csv, decisions.npz (test decision values per pair, for fusion),
    one confusion PNG per pair and report.md; the results table is printed at the
    end.

    Example config (relative paths resolve against the config's folder, then the
    current folder):

    \b
      name: ckplus48-baseline
      data: {source: ../../shared/datasets/ckplus48}
      images: {size: 48}
      protocol: {kind: group_kfold, n_splits: 10}   # or {kind: logo},
                                                    # {kind: fixed, train: Training, test: PublicTest}
      normalisation: global                         # or per_subject
      features: [{name: pixels}, {name: hog, pixels_per_cell: 8}]
      classifiers:
        - {name: linear_svm, C: 0.01}
        - {name: linear_svm, C_grid: auto, label: svm_cv}   # C in 2^-10..2^10 by inner
                                                             # CV on the training folds only
        - {name: pls, n_components_grid: auto}              # components, the same way

    \b
    Example:
      affectlab experiment configs/ckplus48-baseline.yaml --out runs/ck48
    """
    from affectlab.errors import ConfigError
    from affectlab.experiments import run_experiment
    from affectlab.features.cache import default_cache_dir
    from affectlab.outputs import check_run_folder

    if n_jobs == 0:
        raise ConfigError("--jobs must be a positive number of processes or -1 (all cores), not 0")
    if no_cache and cache_dir is not None:
        raise ConfigError("--cache and --no-cache contradict each other; give one")
    cache = None if no_cache else (cache_dir or default_cache_dir())
    check_run_folder(out_dir, [config, data, *config_paths(config)], option="--out")
    result = run_experiment(config, out_dir, data=data, progress=progress, overwrite=overwrite,
                            n_jobs=n_jobs, cache=cache)
    click.echo(result.table())
    written = sorted(p.name for p in result.out_dir.iterdir() if p.suffix in {".md", ".json", ".csv", ".npz"})
    click.echo(f"run folder: {result.out_dir} ({', '.join(written)}); {result.seconds:.0f} s", err=True)
    if "predictions.csv" in written and len(result.rows) > 1:
        click.echo(f"is one row really better than another? affectlab compare {shlex.quote(str(result.out_dir))} A B",
                   err=True)

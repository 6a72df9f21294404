"""``affectlab train``: fit a registered network on a labelled image dataset (thin CLI over the trainer)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import click

from affectlab.errors import ConfigError
from affectlab.outputs import check_run_folder

__all__ = ["train_command"]


def _command_line(ctx: click.Context) -> str:
    """The command as typed, rebuilt from the parsed options (non-default values only)."""
    parts = ["affectlab", ctx.info_name or "train"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if value == param.default or value is None:
            continue
        long_names = [o for o in param.opts if o.startswith("--")]
        if param.is_flag:
            if param.secondary_opts and not value:
                parts.append(param.secondary_opts[0])
            elif value:
                parts.append(long_names[0])
            continue
        parts += [long_names[0], shlex.quote(str(value))]
    return " ".join(parts)


@click.command("train")
@click.option("--model", "model_name", required=True, help="Registered model name (affectlab.models.list_models()).")
@click.option("--data", "source", required=True, type=click.Path(path_type=Path), help="Labelled image dataset.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: best.pt, last.pt (resume), history.json, results.json and the model card.")
@click.option("--train-split", default=None, help="Named split to fit on (FER2013: Training, the default there).")
@click.option("--val-split", default=None,
              help="Named split that selects the epoch (FER2013: PublicTest, the default there); needs --train-split.")
@click.option("--val-fraction", type=click.FloatRange(0.01, 0.9), default=0.1, show_default=True,
              help="Without --val-split: fraction of subjects held out for selection.")
@click.option("--init", default=None, metavar="NAME_OR_PATH",
              help="Start from these weights (fine-tuning): 'default' (the bundled weights of --model), "
                   "a model name (its bundled weights) or a checkpoint.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default="adamw", show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=float, default=1e-4, show_default=True)
@click.option("--schedule", type=click.Choice(["onecycle", "cosine", "constant"]), default="onecycle",
              show_default=True)
@click.option("--label-smoothing", type=float, default=0.0, show_default=True)
@click.option("--mixup", type=float, default=0.0, show_default=True, help="Mixup alpha (0: off).")
@click.option("--class-weighting", is_flag=True, help="Inverse-frequency class weights in the loss.")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Early stopping on validation accuracy.")
@click.option("--rotation", type=float, default=10.0, show_default=True, help="Max random rotation (degrees).")
@click.option("--scale", type=float, default=0.1, show_default=True, help="Max random scale change.")
@click.option("--translate", type=float, default=0.1, show_default=True, help="Max random shift (fraction of side).")
@click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips.")
@click.option("--erase", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Random-erasing probability per image (one noise-filled rectangle; 0: off).")
@click.option("--crop-size", type=click.IntRange(min=1), default=None,
              help="Random square crops (default: the model's input when smaller than its evaluation size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="Training arithmetic: bf16 autocast, fp32, or auto (bf16 where the CPU has avx512_bf16/AMX or the "
                   "GPU supports it, else fp32). Recorded in results.json and the card.")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory layout (faster convolutions on CPU).")
@click.option("--install", is_flag=True, help="Copy best.pt and the card into the package's weights folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Epoch lines and progress bars on stderr.")
def train_command(model_name: str, source: Path, out_dir: Path, train_split: str | None, val_split: str | None,
                  val_fraction: float, init: str | None, epochs: int, batch_size: int, optimizer: str, lr: float,
                  weight_decay: float, schedule: str, label_smoothing: float, mixup: float, class_weighting: bool,
                  patience: int | None, rotation: float, scale: float, translate: float, flip: bool, erase: float,
                  crop_size: int | None, seed: int, device: str, threads: int | None, precision: str,
                  channels_last: bool, install: bool, progress: bool) -> None:
    """Train an expression network; select the epoch on a validation split only.

    Writes OUT/best.pt (weights of the selected epoch), OUT/last.pt (run it again to
    resume an interrupted run), OUT/history.json, OUT/results.json and a model card
    (data, splits, metrics with UAR and confusion matrix, machine, wall time, this
    command). Prints one JSON object with the validation results.

    \b
    Examples:
      affectlab train --model resnet_fer --data ../shared/datasets/fer2013/fer2013.csv.gz \\
          --out runs/resnet --epochs 24 --batch-size 128 --weight-decay 0.05 --label-smoothing 0.1
      affectlab train --model tencrop_cnn --data fer2013.csv.gz --out runs/tencrop --epochs 5
      affectlab train --model resnet_fer --init default --data ../shared/datasets/ckplus48 \\
          --out runs/ck-finetune --epochs 15 --lr 1e-3
    """
    from affectlab.data.loader import load_dataset
    from affectlab.models import create_model
    from affectlab.models.augment import AugmentConfig
    from affectlab.models.device import resolve_device
    from affectlab.models.train import TrainConfig, resolve_precision
    from affectlab.models.training import install_run, train_on_dataset

    net = create_model(model_name)  # unknown names, devices and run folders fail before the data is read
    resolve_precision(precision, resolve_device(device))
    check_run_folder(out_dir, [source, Path(init) if init and Path(init).exists() else None], option="--out")
    existing = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ConfigError(f"--out {str(out_dir)!r}: cannot create the run folder there "
                          f"({existing} is {'not a folder' if not existing.is_dir() else 'not writable'})")
    dataset = load_dataset(source)
    splits = {s.split for s in dataset.samples}
    if train_split is None and val_split is None and {"Training", "PublicTest"} <= splits:
        train_split, val_split = "Training", "PublicTest"  # FER2013's own protocol
    eval_size = net.config.extras.get("eval_size")
    if crop_size is None and eval_size and tuple(eval_size) != tuple(net.config.input_size):
        crop_size = int(net.config.input_size[0])
    cfg = TrainConfig(
        epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay,  # type: ignore[arg-type]
        schedule=schedule, label_smoothing=label_smoothing, class_weighting=class_weighting,  # type: ignore[arg-type]
        mixup_alpha=mixup, patience=patience, seed=seed, device=device, num_threads=threads,
        augment=AugmentConfig(max_rotation_deg=rotation, max_scale=scale, max_translate=translate, flip=flip,
                              erase_prob=erase),
        channels_last=channels_last, crop_size=crop_size, precision=precision,  # type: ignore[arg-type]
    )
    command = _command_line(click.get_current_context())
    try:
        report = train_on_dataset(model_name, dataset, out_dir=out_dir, config=cfg, train_split=train_split,
                                  val_split=val_split, val_fraction=val_fraction, init=init, command=command,
                                  progress=progress)
    except ValueError as exc:  # e.g. resuming a run folder made with other settings
        raise ConfigError(str(exc)) from None
    if install:
        install_run(out_dir, model_name, dataset.name)
    click.echo(json.dumps({k: v for k, v in report.items() if k not in ("train_config",)}))

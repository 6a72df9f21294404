"""``TrainConfig.precision`` / ``affectlab train --precision``: bf16 autocast trains, ``auto`` resolves from the
CPU's flags, bad values are refused; random erasing; resuming a run across the new settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import ConfigError
from affectlab.models import create_model
from affectlab.models import train as train_module
from affectlab.models.augment import AugmentConfig, random_erase
from affectlab.models.train import TrainConfig, cpu_supports_bf16, fit_classifier, resolve_precision

NO_AUG = AugmentConfig(max_rotation_deg=0, max_scale=0, max_translate=0, flip=False)


def toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, label in enumerate(y):
        if label == 0:
            x[i, ::4] += 150
        else:
            x[i, :, ::4] += 150
    return x, y


def test_cpu_flags_decide_bf16(tmp_path):
    with_bf16 = tmp_path / "zen4"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n\n"
                         "processor\t: 1\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    amx = tmp_path / "sapphire"
    amx.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "skylake"
    without.write_text("flags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert cpu_supports_bf16(with_bf16) and cpu_supports_bf16(amx)
    assert not cpu_supports_bf16(without) and not cpu_supports_bf16(tmp_path / "absent")


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_to_bf16_only_where_the_cpu_has_it(monkeypatch, native):
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: native)
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("bad", ["fp16", "BF16", "", None])
def test_a_bad_precision_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="precision .*expected one of auto, fp32, bf16"):
        resolve_precision(bad)
    with pytest.raises(ConfigError, match="TrainConfig.precision"):
        fit_classifier(create_model("resnet_fer", num_classes=2), train=toy(8, 0), val=None,
                       config=TrainConfig(epochs=1, precision=bad), progress=False)


def test_the_cli_refuses_a_bad_precision_before_reading_data(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--model", "resnet_fer", "--data", str(tmp_path / "absent.csv"),
                                      "--out", str(tmp_path / "run"), "--precision", "fp16"])
    assert result.exit_code == 2 and "'fp16' is not one of 'auto', 'fp32', 'bf16'" in result.output


def test_a_bf16_step_trains_a_tiny_model_on_cpu():
    torch.manual_seed(0)
    model = create_model("resnet_fer", num_classes=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, schedule="constant", augment=NO_AUG, precision="bf16",
                      device="cpu", num_threads=1)
    result = fit_classifier(model, train=toy(16, 0), val=toy(8, 1), config=cfg, progress=False)
    assert result.precision == "bf16" and result.history[0]["precision"] == "bf16"
    assert np.isfinite(result.history[0]["train_loss"])
    state = model.state_dict()
    assert all(v.dtype == before[k].dtype for k, v in state.items())  # weights stay float32 under autocast
    assert not torch.equal(state["fc.weight"], before["fc.weight"])


def test_bf16_and_fp32_runs_differ_only_in_arithmetic():
    """The same run in both precisions: same batches, close (not equal) losses."""
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = create_model("resnet_fer", num_classes=2)
        cfg = TrainConfig(epochs=1, batch_size=8, schedule="constant", augment=NO_AUG, precision=precision,
                          num_threads=1)
        losses[precision] = fit_classifier(model, train=toy(16, 0), val=None, config=cfg,
                                           progress=False).history[0]["train_loss"]
    assert losses["fp32"] != losses["bf16"] and losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)


@pytest.mark.slow
def test_an_interrupted_bf16_run_resumes_to_the_same_weights(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, schedule="cosine", augment=AugmentConfig(erase_prob=0.5),
                      precision="bf16", crop_size=44, num_threads=1)
    train, val = toy(32, 0), toy(8, 1)
    torch.manual_seed(0)
    straight = create_model("resnet_fer", num_classes=2)
    fit_classifier(straight, train=train, val=val, config=cfg, out_dir=tmp_path / "a", progress=False)
    torch.manual_seed(0)
    first = create_model("resnet_fer", num_classes=2)
    fit_classifier(first, train=train, val=val, config=cfg, out_dir=tmp_path / "b", progress=False,
                   on_epoch_end=lambda row: row["epoch"] >= 1)
    resumed = create_model("resnet_fer", num_classes=2)
    result = fit_classifier(resumed, train=train, val=val, config=cfg, out_dir=tmp_path / "b", progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_a_run_folder_from_before_the_new_settings_resumes(tmp_path):
    """A last.pt written before ``precision`` and ``augment.erase_prob`` existed resumes while they are off."""
    cfg = TrainConfig(epochs=2, batch_size=8, schedule="constant", augment=NO_AUG, num_threads=1)
    train = toy(16, 0)
    fit_classifier(create_model("resnet_fer", num_classes=2), train=train, val=toy(8, 1), config=cfg,
                   out_dir=tmp_path, progress=False, on_epoch_end=lambda row: True)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    del state["run"]["augment"]["erase_prob"]  # (precision may change on resume: not in the signature)
    torch.save(state, tmp_path / "last.pt")
    result = fit_classifier(create_model("resnet_fer", num_classes=2), train=train, val=toy(8, 1), config=cfg,
                            out_dir=tmp_path, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]
    erasing = TrainConfig(**{**cfg.__dict__, "augment": AugmentConfig(0, 0, 0, False, erase_prob=0.5)})
    with pytest.raises(ValueError, match="erase_prob"):  # switching erasing on is another run
        fit_classifier(create_model("resnet_fer", num_classes=2), train=train, val=toy(8, 1), config=erasing,
                       out_dir=tmp_path, progress=False)


def test_the_report_and_card_record_the_precision_used(fer_csv, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: True)
    out = tmp_path / "run"
    args = ["train", "--model", "resnet_fer", "--data", str(fer_csv), "--out", str(out), "--epochs", "1",
            "--batch-size", "16", "--schedule", "constant", "--erase", "0.5", "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "results.json").read_text())["train_config"]
    assert config["precision"] == "bf16" and config["augment"]["erase_prob"] == 0.5
    assert "bf16 arithmetic" in (out / "resnet_fer_fer2013.md").read_text()


def test_random_erasing_replaces_one_rectangle_per_chosen_image():
    x = torch.full((64, 1, 20, 30), 2.0)  # outside [0, 1]: every erased pixel is visible
    out = random_erase(x, 0.5, torch.Generator().manual_seed(1), scale=(0.1, 0.2))
    erased = out != 2.0
    chosen = erased.flatten(1).any(1)
    assert 10 < int(chosen.sum()) < 54  # about half the images
    for mask in erased[chosen, 0]:
        rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert bool(box.all())  # one solid rectangle
        assert 0.1 * 600 - 15 <= box.numel() <= 0.2 * 600 + 15  # its area in the asked range (rounding)
    assert torch.equal(out, random_erase(x, 0.5, torch.Generator().manual_seed(1), scale=(0.1, 0.2)))
    assert random_erase(x, 0.0) is x

"""Test-time augmentation as a model setting (``affectlab.models.predict_probabilities``) and
``affectlab evaluate --tta / --predictions``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import ConfigError
from affectlab.models import create_model, face_size, load_model, predict_probabilities, save_weights
from affectlab.models.registry import AffectNet, ModelConfig
from affectlab.models.train import predict_proba


class LeftRight(AffectNet):
    """Two classes whose logits are the mean brightness of the left and of the right half of the face."""

    def __init__(self, tta: str | None = None) -> None:
        extras = {} if tta is None else {"tta": tta}
        super().__init__(ModelConfig("left_right", input_size=(4, 4), mean=(0.0,), std=(1.0,),
                                     class_names=("left", "right"), extras=extras))
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return self.scale * torch.stack([x[..., :half].mean((1, 2, 3)), x[..., half:].mean((1, 2, 3))], 1)


def test_mirror_tta_of_a_left_right_model_is_even_by_hand():
    face = np.zeros((1, 4, 4), np.uint8)
    face[..., :2] = 255  # left half white: logits (1, 0)
    plain = predict_probabilities(LeftRight(), face, tta="none")
    e = np.exp(1.0)
    assert np.allclose(plain, [[e / (e + 1), 1 / (e + 1)]], atol=1e-6)
    assert np.allclose(predict_probabilities(LeftRight(), face, tta="mirror"), [[0.5, 0.5]], atol=1e-6)


def test_the_model_setting_is_the_default_and_a_call_overrides_it():
    face = np.zeros((1, 4, 4), np.uint8)
    face[..., :2] = 255
    assert np.allclose(predict_probabilities(LeftRight(tta="mirror"), face), [[0.5, 0.5]], atol=1e-6)
    assert np.allclose(predict_probabilities(LeftRight(tta="mirror"), face, tta="auto"), [[0.5, 0.5]], atol=1e-6)
    assert predict_probabilities(LeftRight(tta="mirror"), face, tta="none")[0, 0] > 0.7
    assert predict_probabilities(LeftRight(), face)[0, 0] > 0.7  # no setting: none


@pytest.mark.parametrize("name", ["resnet_fer", "mini_xception"])
def test_mirror_tta_is_the_mean_of_the_face_and_its_mirror(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        expected = 0.5 * (F.softmax(model(x), 1) + F.softmax(model(torch.flip(x, dims=[3])), 1))
        alone = F.softmax(model(x), 1)
    assert np.allclose(predict_probabilities(model, x, tta="mirror", batch_size=2), expected.numpy(), atol=1e-5)
    assert np.allclose(predict_probabilities(model, x, tta="none"), alone.numpy(), atol=1e-5)


def test_a_crop_trained_model_sees_the_centre_crop_of_its_face_size():
    torch.manual_seed(0)
    model = create_model("resnet18_fer").eval()
    assert face_size(model) == (48, 48) and tuple(model.config.input_size) == (40, 40)
    faces = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        centre = F.softmax(model(faces[..., 4:44, 4:44]), 1).numpy()
        mirrored = F.softmax(model(torch.flip(faces, dims=[3])[..., 4:44, 4:44]), 1).numpy()
    assert np.allclose(predict_probabilities(model, faces, tta="none"), centre, atol=1e-5)
    assert np.allclose(predict_probabilities(model, faces, tta="mirror"), 0.5 * (centre + mirrored), atol=1e-5)
    big = F.interpolate(faces, size=(96, 96), mode="nearest")  # resized back to 48x48 first, then cropped
    assert np.allclose(predict_probabilities(model, big, tta="none"), centre, atol=2e-2)


def test_the_model_keeps_its_mode_device_and_layout():
    model = create_model("resnet_fer").train().to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p = predict_probabilities(model, np.zeros((2, 48, 48), np.uint8), tta="mirror")
    assert model.training and p.shape == (2, 7) and p.dtype == np.float32
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # BN statistics untouched
    assert predict_probabilities(model, np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


@pytest.mark.parametrize("bad", ["flip", "ten_crop", "MIRROR", ""])
def test_an_unknown_tta_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="tta .*expected auto, none, mirror"):
        predict_probabilities(LeftRight(), np.zeros((1, 4, 4), np.uint8), tta=bad)
    with pytest.raises(ConfigError, match="tta"):
        predict_probabilities(LeftRight(tta=bad), np.zeros((1, 4, 4), np.uint8))


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_evaluate_writes_one_prediction_row_per_face(fer_csv, tmp_path):
    torch.manual_seed(0)
    weights = save_weights(create_model("resnet_fer"), tmp_path / "r.pt")
    out = tmp_path / "sub" / "pred.csv"
    result = _run("evaluate", "--model", str(weights), "--data", str(fer_csv), "--split", "PublicTest", "--json",
                  "--tta", "mirror", "--predictions", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tta"] == "mirror" and report["predictions"] == str(out)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert list(rows[0]) == ["index", "id", "true", "predicted", *(f"p_{c}" for c in names)]
    assert len(rows) == report["n"] == 12 and [int(r["index"]) for r in rows] == list(range(12))
    assert len({r["id"] for r in rows}) == 12
    proba = np.array([[float(r[f"p_{c}"]) for c in names] for r in rows])
    assert np.allclose(proba.sum(1), 1.0, atol=1e-4)
    assert [names[i] for i in proba.argmax(1)] == [r["predicted"] for r in rows]
    assert np.mean([r["true"] == r["predicted"] for r in rows]) == pytest.approx(report["accuracy"])
    cm = np.zeros((7, 7), int)
    for r in rows:
        cm[names.index(r["true"]), names.index(r["predicted"])] += 1
    assert report["confusion"] == cm.tolist()  # the file and the figures agree
    # the same model without TTA: the file follows the option
    plain = _run("evaluate", "--model", str(weights), "--data", str(fer_csv), "--split", "PublicTest", "--json",
                 "--tta", "none", "--predictions", str(tmp_path / "plain.csv"))
    assert json.loads(plain.stdout)["tta"] == "none"
    with (tmp_path / "plain.csv").open(newline="") as handle:
        plain_rows = list(csv.DictReader(handle))
    assert [r["id"] for r in plain_rows] == [r["id"] for r in rows]
    assert any(r["p_angry"] != q["p_angry"] for r, q in zip(rows, plain_rows))


def test_the_table_names_the_tta_and_the_file(fer_csv, tmp_path):
    result = _run("evaluate", "--data", str(fer_csv), "--split", "PublicTest", "--predictions",
                  str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert "TTA " in result.stdout and f"predictions: {tmp_path / 'p.csv'}" in result.stdout


def test_an_unwritable_predictions_file_fails_before_the_data_is_read(tmp_path):
    (tmp_path / "file").write_text("x")
    result = _run("evaluate", "--data", str(tmp_path / "absent.csv"), "--predictions", str(tmp_path / "file" / "p.csv"))
    assert result.exit_code == 1 and "--predictions" in result.stderr and "not a folder" in result.stderr
    assert "Traceback" not in result.output
    result = _run("evaluate", "--data", str(tmp_path / "absent.csv"), "--tta", "flip")
    assert result.exit_code == 2 and "'flip' is not one of" in result.output


def test_a_saved_crop_trained_model_is_rebuilt_with_its_face_size(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet18_fer").eval()
    loaded = load_model(save_weights(model, tmp_path / "r18.pt"))
    assert face_size(loaded) == (48, 48) and loaded.config.extras["crop"] == "center"
    faces = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    assert np.allclose(predict_probabilities(loaded, faces), predict_probabilities(model, faces), atol=1e-6)


def test_colour_models_take_channel_last_images(ck_folders, tmp_path):
    torch.manual_seed(0)
    net = create_model("mini_xception", channels=3).eval()
    rgb = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 3)).astype(np.uint8)
    expected = predict_proba(net, rgb.transpose(0, 3, 1, 2), device="cpu")
    assert np.allclose(predict_proba(net, rgb, device="cpu"), expected, atol=1e-6)
    save_weights(net, tmp_path / "rgb.pt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "rgb.pt"), "--data", str(ck_folders),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 48

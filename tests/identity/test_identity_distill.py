from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.experiments.siamese import run_siamese_experiment
from affectlab.experiments.siamese_distill import DistillFaces, distilled_state, load_branch
from affectlab.features.cache import FeatureCache
from affectlab.identity import distill
from affectlab.identity.distill import cosine_distance, distill_branch, flatten_state, unflatten_state
from affectlab.models.siamese import siamese_vgg
from tests.identity.fakes import write_tiny_ck


@pytest.fixture
def sample_face_gray():
    """The sample photograph's face, cropped a little wider than dlib's box (177, 82, 97 x 96), gray, 96 x 96."""
    import cv2

    from affectlab.data.media import sample_photo

    gray = cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2GRAY)[62:198, 157:293]
    return cv2.resize(gray, (96, 96), interpolation=cv2.INTER_AREA)


def _tiny_net(model=None):
    return siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8, join=(model or {}).get("join", "fc"))


def test_cosine_distance_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])
    assert cosine_distance(a, b).tolist() == pytest.approx([0.0, 2.0, 1.0])


def test_flatten_state_round_trip_keeps_shapes_and_dtypes():
    net = _tiny_net()
    state = net.state_dict()
    back = unflatten_state(flatten_state(state), state)
    assert list(back) == list(state)
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    with pytest.raises(ValueError, match="values was expected"):
        unflatten_state(np.zeros(3), state)


def test_distill_branch_learns_the_targets_and_refuses_bad_input():
    rng = np.random.default_rng(0)
    # 4 prototype faces, each target a fixed direction: the student must learn which is which
    protos = rng.integers(0, 255, (4, 28, 24)).astype(np.uint8)
    images = np.concatenate([np.clip(protos + rng.normal(0, 8, protos.shape), 0, 255).astype(np.uint8)
                             for _ in range(6)])
    targets = np.tile(np.eye(4, 16, dtype=np.float32), (6, 1))
    torch.manual_seed(0)
    net = _tiny_net()
    before = [p.detach().clone() for p in net.branch.parameters()]
    history = distill_branch(net, images, targets, epochs=25, lr=0.01, batch_size=8, seed=0)
    assert len(history) == 25 and set(history[0]) == {"epoch", "loss", "cosine"}
    assert history[-1]["loss"] < history[0]["loss"] - 0.2
    assert history[-1]["cosine"] == pytest.approx(1 - history[-1]["loss"], abs=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.branch.parameters()))
    with pytest.raises(ConfigError, match="uint8"):
        distill_branch(net, images.astype(np.float32), targets, epochs=1)
    with pytest.raises(ConfigError, match="one row each"):
        distill_branch(net, images, targets[:3], epochs=1)
    with pytest.raises(ConfigError, match="epochs"):
        distill_branch(net, images, targets, epochs=0)


def test_teacher_descriptors_of_a_face_and_the_same_in_two_processes(sample_face_gray):
    pytest.importorskip("dlib", reason="the teacher is dlib's face-recognition network (the landmarks extra)")
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("the teacher's weights come in face-recognition-models (the landmarks extra)")
    faces = [sample_face_gray, np.fliplr(sample_face_gray).copy(), sample_face_gray[::2, ::2].copy()]
    one = distill.teacher_descriptors(faces, chunk=2)
    assert one.shape == (3, 128) and one.dtype == np.float32 and np.isfinite(one).all()
    # the same face mirrored or halved stays within dlib's 0.6 'same person' distance
    assert np.linalg.norm(one[0] - one[1]) < 0.6 and np.linalg.norm(one[0] - one[2]) < 0.6
    np.testing.assert_allclose(distill.teacher_descriptors(faces, chunk=2, n_jobs=2), one, atol=1e-6)
    with pytest.raises(ConfigError, match="image 1 must be gray"):
        distill.teacher_descriptors([sample_face_gray, np.zeros((8, 8, 3), np.uint8)])


@pytest.fixture
def fake_teacher(monkeypatch):
    """A teacher that needs no dlib: each face's descriptor is its mean brightness in 4 quadrants (as 128 values);
    counts its calls."""
    calls = []

    def teacher(images, *, upscale=4, n_jobs=1, chunk=256, progress=False):
        calls.append(len(images))
        return quadrants(images)

    def quadrants(images):
        out = np.zeros((len(images), 128), np.float32)
        for i, img in enumerate(images):
            h, w = img.shape
            quads = [img[:h // 2, :w // 2], img[:h // 2, w // 2:], img[h // 2:, :w // 2], img[h // 2:, w // 2:]]
            out[i, :4] = [q.mean() / 255 - 0.5 for q in quads]
        return out

    def photos(grays, *, progress=False):
        calls.append(("photos", len(grays)))
        return quadrants(grays), []

    monkeypatch.setattr(distill, "teacher_descriptors", teacher)
    monkeypatch.setattr(distill, "describe_photos", photos)
    return calls


def test_siamese_experiment_distils_once_per_seed_and_caches(tiny_orl, tmp_path, fake_teacher):
    ck = write_tiny_ck(tmp_path / "ck")
    cfg = {"kind": "siamese", "name": "tiny", "data": {"source": str(tiny_orl)},
           "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0}, "model": {"hidden": 8},
           "train": {"epochs": 1, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                     "num_threads": 1, "ensemble": 2},
           "heatmaps": {"n_pairs": 0},
           "distill": {"source": str(ck), "layout": {"height": 21, "top": 4, "left": 1}, "epochs": 2,
                       "batch_size": 4}}
    cache = tmp_path / "cache"
    first = run_siamese_experiment(cfg, tmp_path / "run", progress=False, cache=cache)
    assert fake_teacher == [12]                               # the 12 faces, once
    assert first.config["distill"]["n_faces"] == 12
    assert first.config["distill"]["layout"] == {"height": 21, "top": 4, "left": 1}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- distillation: " in report and "(12 faces of people not in the verification set)" in report
    histories = json.loads((tmp_path / "run" / "metrics.json").read_text())["distill_histories"]
    assert sorted(histories) == ["0", "1"] and all(len(h) == 2 for h in histories.values())  # 2 seeds, 2 folds
    again = run_siamese_experiment(cfg, tmp_path / "again", progress=False, cache=cache)
    assert fake_teacher == [12]                               # descriptors and weights read from the cache
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["distill_histories"] == {"0": None,
                                                                                                  "1": None}
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in first.rows]
    rerun = run_siamese_experiment(tmp_path / "run" / "config.yaml", tmp_path / "rerun", progress=False, cache=cache)
    assert fake_teacher == [12] and [r["accuracy"] for r in rerun.rows] == [r["accuracy"] for r in first.rows]
    for value, match in [({"source": str(tmp_path / "absent")}, "distill.source"),
                         ({"source": str(ck), "epochs": 0}, "distill.epochs"),
                         ({"source": str(ck), "max_faces": 1}, "distill.max_faces"),
                         ({"source": str(ck), "teacher": "x"}, "distill: unknown key")]:
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment({**cfg, "distill": value}, tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="give one of them"):
        run_siamese_experiment({**cfg, "extra_identities": {"source": str(ck)}}, tmp_path / "bad", progress=False)


def test_distilled_state_reads_the_cache_only_for_the_same_settings(tmp_path):
    from affectlab.identity.train import SiameseTrainConfig

    rng = np.random.default_rng(1)
    faces = DistillFaces(rng.integers(0, 255, (6, 28, 24)).astype(np.uint8), rng.normal(size=(6, 8)).astype(
        np.float32), "teacher-key")
    cfg = {"layout": {"height": None, "top": 0, "left": 0}, "epochs": 1, "lr": 0.002, "batch_size": 4,
           "max_faces": None}
    cache = FeatureCache(tmp_path / "cache")
    state, head, history = distilled_state(_tiny_net, {"m": 1}, (28, 24), faces, cfg, SiameseTrainConfig(), 0, cache)
    assert history is not None and len(history) == 1
    assert list(state) == list(_tiny_net().state_dict()) and sorted(head) == ["bias", "weight"]
    assert head["weight"].shape == (8, _tiny_net().embedding_dim)
    same, same_head, cached = distilled_state(_tiny_net, {"m": 1}, (28, 24), faces, cfg, SiameseTrainConfig(), 0, cache)
    assert cached is None and all(torch.equal(state[k], same[k]) for k in state)
    assert all(torch.equal(head[k], same_head[k]) for k in head)
    _, _, other = distilled_state(_tiny_net, {"m": 1}, (28, 24), faces, {**cfg, "epochs": 2}, SiameseTrainConfig(), 0,
                                  cache)
    assert other is not None and len(other) == 2
    _, _, seed1 = distilled_state(_tiny_net, {"m": 1}, (28, 24), faces, cfg, SiameseTrainConfig(), 1, cache)
    assert seed1 is not None
    # the join is not distilled: a cosine-join net reads the same entry and takes the branch from it
    fc_state, _, for_cosine = distilled_state(_tiny_net, {"m": 1, "join": "cosine"}, (28, 24), faces, cfg,
                                              SiameseTrainConfig(), 0, cache)
    assert for_cosine is None and all(torch.equal(state[k], fc_state[k]) for k in state)
    cosine_net = _tiny_net({"join": "cosine"})
    load_branch(cosine_net, fc_state)
    own = cosine_net.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in own if k.startswith("branch."))
    assert own["cos_scale"].item() == 10.0 and "fc1.weight" not in own
    with pytest.raises(ConfigError, match="built for another net"):
        load_branch(cosine_net, {k: v for k, v in fc_state.items() if not k.startswith("branch.0")})


def test_an_interrupted_distillation_resumes_to_the_same_weights(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (12, 28, 24)).astype(np.uint8)
    targets = rng.normal(size=(12, 8)).astype(np.float32)
    settings = {"epochs": 3, "lr": 0.01, "batch_size": 4, "seed": 0}   # 3 batches an epoch
    torch.manual_seed(0)
    whole = _tiny_net()
    history = distill_branch(whole, images, targets, checkpoint=tmp_path / "whole.pt", **settings)
    calls = {"n": 0}
    real = distill.cosine_distance

    def stops_in_epoch_two(student, teacher):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(student, teacher)

    torch.manual_seed(0)
    net = _tiny_net()
    monkeypatch.setattr(distill, "cosine_distance", stops_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        distill_branch(net, images, targets, checkpoint=tmp_path / "cut.pt", **settings)
    assert len(torch.load(tmp_path / "cut.pt", weights_only=False)["history"]) == 1   # epoch 1 was kept
    monkeypatch.setattr(distill, "cosine_distance", real)
    torch.manual_seed(1)
    resumed = _tiny_net()   # other start weights: the checkpoint's must replace them
    again = distill_branch(resumed, images, targets, checkpoint=tmp_path / "cut.pt", **settings)
    assert again == history
    for name, tensor in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


def test_describe_photos_finds_the_face_and_agrees_with_the_distillation_view(sample_face_gray):
    import cv2

    big = cv2.copyMakeBorder(sample_face_gray, 40, 40, 40, 40, cv2.BORDER_REPLICATE)  # a photograph around the face
    out, missed = distill.describe_photos([big, np.full((60, 50), 128, np.uint8)])
    assert out.shape == (2, 128) and out.dtype == np.float64 and missed == [1]
    # the same face through the distillation's view (enlarged crop, detector box): the same person for dlib
    assert np.linalg.norm(out[0] - distill.teacher_descriptors([sample_face_gray])[0]) < 0.6
    with pytest.raises(ConfigError, match="gray"):
        distill.describe_photos([np.zeros((8, 8, 3), np.uint8)])


def test_siamese_experiment_adapts_each_net_on_its_training_photos(tiny_orl, tmp_path, fake_teacher):
    ck = write_tiny_ck(tmp_path / "ck")
    cfg = {"kind": "siamese", "name": "tiny", "data": {"source": str(tiny_orl)},
           "protocol": {"n_folds": 2, "val_subjects": 0, "seed": 0}, "model": {"hidden": 8, "join": "cosine"},
           "train": {"epochs": 1, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                     "num_threads": 1, "select_on": "none", "threshold_rule": "fixed"},
           "heatmaps": {"n_pairs": 0},
           "distill": {"source": str(ck), "epochs": 1, "batch_size": 4, "adapt_epochs": 2, "adapt_lr": 0.001}}
    cache = tmp_path / "cache"
    run_siamese_experiment(cfg, tmp_path / "run", progress=False, cache=cache)
    assert fake_teacher == [("photos", 32), 12]               # every photograph described once
    adapted = json.loads((tmp_path / "run" / "metrics.json").read_text())["adapt_histories"]
    assert [(a["fold"], len(a["history"])) for a in adapted] == [(0, 2), (1, 2)]
    assert "- adaptation: " in (tmp_path / "run" / "report.md").read_text()
    run_siamese_experiment(cfg, tmp_path / "again", progress=False, cache=cache)
    assert fake_teacher == [("photos", 32), 12]               # both read from the cache
    for value, match in [({"adapt_epochs": -1}, "distill.adapt_epochs"), ({"adapt_lr": 0}, "distill.adapt_lr")]:
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment({**cfg, "distill": {**cfg["distill"], **value}}, tmp_path / "bad", progress=False)

"""Real-data checks of the bundled model and the evaluation path (skipped without ../shared/datasets)."""

from __future__ import annotations

import pytest

from affectlab.data import load_dataset
from affectlab.models import load_model
from affectlab.models.evaluation import evaluate_model

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_default_model_on_publictest_rows(dataset_path):
    data = load_dataset(dataset_path("fer2013/fer2013.csv.gz"), usage="PublicTest", limit=400)
    result = evaluate_model(load_model("default"), data, split="PublicTest", device="cpu")
    assert result["n"] == 400
    assert result["accuracy"] > 0.5 and result["uar"] > 0.4  # card: 0.606 / 0.562 on all 3,589 rows
    assert sum(map(sum, result["confusion"])) == 400


def test_ckplus_labels_map_onto_the_fer_classes(dataset_path):
    data = load_dataset(dataset_path("ckplus48"))
    result = evaluate_model(load_model("default"), data, device="cpu")
    assert result["unknown_labels"] == {"contempt": 54}
    assert result["per_class_recall"]["happy"] > 0.8

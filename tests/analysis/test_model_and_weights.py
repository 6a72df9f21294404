"""An explicit ``--model`` and a ``--weights`` file naming another network: one error, in every command."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import ModelError
from affectlab.models import check_weights_network, create_model, save_weights


@pytest.fixture(scope="module")
def mx_weights(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "mx.pt"))


@pytest.mark.parametrize("command", [["analyze"], ["explain", "--out", "{tmp}/panel.png"],
                                     ["fool", "--out", "{tmp}/fooled"], ["batch", "{tmp}", "--out", "{tmp}/o.parquet"],
                                     ["serve", "--port", "0"]])
def test_explicit_model_other_than_the_files_network_is_refused(command, mx_weights, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    result = CliRunner().invoke(cli, [*args, "--model", "resnet_fer", "--weights", mx_weights])
    assert result.exit_code == 1, result.output
    assert "holds a mini_xception network, not --model resnet_fer" in result.output
    assert "Traceback" not in result.output


def test_weights_alone_or_with_their_own_model_run(mx_weights):
    for extra in ([], ["--model", "mini_xception"]):
        result = CliRunner().invoke(cli, ["analyze", "--weights", mx_weights, *extra, "--no-progress"])
        assert result.exit_code == 0, result.output
        assert '"status": "ok"' in result.stdout


def test_check_weights_network_passes_bare_and_unreadable_files(mx_weights, tmp_path):
    check_weights_network(mx_weights, "mini_xception")
    with pytest.raises(ModelError, match="leave out --model"):
        check_weights_network(mx_weights, "resnet_fer")
    bare = tmp_path / "bare.pt"
    torch.save(create_model("mini_xception").state_dict(), bare)
    check_weights_network(bare, "resnet_fer")  # names no network: the loader reports the misfit
    check_weights_network(tmp_path / "missing.pt", "resnet_fer")

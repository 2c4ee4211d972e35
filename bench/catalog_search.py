"""Lexical catalogue search at scale: index build time and memory, query latency, recall@5.

    .venv/bin/python bench/catalog_search.py [--count 3000 --queries 300 --seed 1]

The catalogue is the seeded synthetic Mitos data set. Queries are made from a procedure's own title the way
people mistype it (no accents, capitals, a typo, a prefix of the last word), so each query has one right answer;
recall@5 is how often that answer is in the first five. Prints JSON lines; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import unicodedata
from collections.abc import Callable

import psutil

from actors.catalog.lexical import LexicalIndex, SearchDoc
from doubles.mitos.generator import generate


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ds = generate(seed=args.seed, count=args.count)
    docs = [
        SearchDoc(
            str(p.id),
            p.record["title"]["el"],
            tuple(p.record.get("metadata", {}).get("process", {}).get("alternative_titles") or ()),
            p.record.get("metadata", {}).get("process", {}).get("description") or "",
        )
        for p in ds.procedures.values()
    ]
    proc = psutil.Process()
    gc.collect()
    rss_before = proc.memory_info().rss
    started = time.perf_counter()
    index = LexicalIndex(docs)
    build_s = time.perf_counter() - started
    gc.collect()
    print(
        json.dumps(
            {
                "bench": "lexical_build",
                "procedures": index.size,
                "build_s": round(build_s, 3),
                "rss_delta_mib": round((proc.memory_info().rss - rss_before) / 2**20, 1),
            }
        )
    )
    # titles repeat in a generated catalogue: a query is right if it finds any procedure with the same title
    by_title: dict[str, set[str]] = {}
    for d in docs:
        by_title.setdefault(d.title, set()).add(d.procedure_id)
    sample = rng.sample(docs, min(args.queries, len(docs)))
    for name, make in VARIANTS.items():
        latencies, found = [], 0
        for d in sample:
            q = make(d.title, rng)
            t0 = time.perf_counter()
            hits = index.search(q, limit=5)
            latencies.append((time.perf_counter() - t0) * 1000)
            found += bool(by_title[d.title] & {h.procedure_id for h in hits})
        latencies.sort()
        print(
            json.dumps(
                {
                    "bench": "lexical_query",
                    "variant": name,
                    "queries": len(sample),
                    "p50_ms": round(statistics.median(latencies), 3),
                    "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
                    "recall_at_5": round(found / len(sample), 3),
                }
            )
        )


if __name__ == "__main__":
    main()

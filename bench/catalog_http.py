"""Procedure search through HTTP, per mode: wrk against the running system's `/api/procedures/search`.

    .venv/bin/python -m doubles.mitos.server --port 18190 --seed 1 --count 3000 &   # the bench's catalogue
    KEP_MITOS_URL=http://127.0.0.1:18190 KEP_RATE_LIMIT_READS= .venv/bin/kep up    # synced at start
    .venv/bin/python bench/catalog_http.py [--duration 10 --connections 16 --repeats 3]

Each request takes the next query of `bench/search_queries.toml` (the labelled set: Greek, English and Greeklish,
no accents, typos, prefixes, other words), naming no language, through a wrk Lua script, as an employee of the demo
seed (one caller: unless `KEP_RATE_LIMIT_READS` is empty, its 1 200 reads a minute answer 429s, counted as errors).
Waits until the semantic index answers (after a sync it may still be the previous catalogue's for a few minutes,
while the new vectors are encoded: watch `procedure_embeddings`); then one cold pass, one request at a time: every
query once, new to the catalogue's query-vector cache (trailing spaces make each one a new key), in the default
mode; then the modes (`default` names none: hybrid) interleaved under wrk, `--repeats` times, where the queries come
round again and their vectors are cached, as an office's everyday searches are. Prints the median per mode as JSON
lines. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import httpx
from serve_vs_uvicorn import parse_wrk  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
QUERIES = Path(__file__).with_name("search_queries.toml")
MODES = ("default", "lexical", "semantic", "hybrid")


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def queries() -> list[str]:
    return [q["q"] for q in tomllib.loads(QUERIES.read_text())["query"]]


def paths(mode: str, suffix: str = "") -> list[str]:
    out = []
    for q in queries():
        params: dict[str, str | int] = {"q": q + suffix, "limit": 5}
        if mode != "default":
            params["mode"] = mode
        out.append("/api/procedures/search?" + urllib.parse.urlencode(params))
    return out


def cold_pass(client: httpx.Client, token: str) -> dict[str, float]:
    """Every query once, one at a time, with a suffix no earlier run used: its vector is encoded on the way."""
    suffix = " " * (1 + int(time.time()) % 97)
    ms = []
    for path in paths("default", suffix):
        started = time.perf_counter()
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        ms.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
    ms.sort()
    return {"p50_ms": round(ms[len(ms) // 2], 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2)}


def lua(token: str, request_paths: list[str]) -> str:
    listed = ",\n".join(json.dumps(p) for p in request_paths)
    return f"""
local paths = {{
{listed}
}}
local i = 0
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--user", default="maria.papadopoulou")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (./dev up installs it)")

    def token_of(user: str) -> str:
        kep = [str(ROOT / ".venv/bin/kep"), "token", user]
        return subprocess.run(kep, check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()

    # Keycloak's tokens live 5 minutes: a fresh one for each request here and for each wrk run below.
    with httpx.Client(base_url=args.base, timeout=30) as client:
        deadline = time.monotonic() + 600
        while True:  # the semantic index follows the start-up sync by a while
            r = client.get(
                "/api/procedures/search",
                params={"q": "passport", "mode": "semantic"},
                headers={"Authorization": f"Bearer {token_of(args.user)}"},
            )
            if r.status_code == 200:
                break
            if r.status_code != 503 or time.monotonic() > deadline:
                sys.exit(f"search not ready: {r.status_code} {r.text}")
            time.sleep(2)
        admin = {"Authorization": f"Bearer {token_of('admin')}"}
        total = client.get("/api/admin/procedures", params={"size": 1}, headers=admin).json()["total"]
        print(json.dumps({"bench": "setup", "procedures_total": total, "queries": len(queries())}), flush=True)
        cold = cold_pass(client, token_of(args.user))
        print(json.dumps({"bench": "http_search_cold", "mode": "default", "connections": 1, **cold}), flush=True)

    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for mode in MODES:
                script = Path(tmp) / f"{mode}.lua"
                script.write_text(lua(token_of(args.user), paths(mode)))
                cmd = [
                    "wrk",
                    f"-t{min(2, args.connections)}",
                    f"-c{args.connections}",
                    f"-d{args.duration}s",
                    "--latency",
                ]
                out = subprocess.run(
                    [*cmd, "-s", str(script), args.base], check=True, capture_output=True, text=True
                ).stdout
                results[mode].append(parse_wrk(out))
    for mode, runs in results.items():
        print(
            json.dumps(
                {
                    "bench": "http_search",
                    "mode": mode,
                    "connections": args.connections,
                    "runs": len(runs),
                    "rps": round(median(r["rps"] for r in runs), 1),
                    "p50_ms": round(median(r["p50_ms"] for r in runs), 2),
                    "p99_ms": round(median(r["p99_ms"] for r in runs), 2),
                    "errors": sum(int(r["errors"]) for r in runs),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

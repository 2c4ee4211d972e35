"""Procedure search through HTTP, per mode: wrk against the running system's `/api/procedures/search`.

    KEP_MITOS_COUNT=3000 ./dev up            # the local Mitos double with 3000 procedures, synced at start
    .venv/bin/python bench/catalog_http.py [--duration 10 --connections 16 --repeats 3]

Each request takes the next query of `bench/search_queries.toml` (the labelled set: Greek and English, no
accents, misspellings, other words) through a wrk Lua script, as an employee of the demo seed. Waits until the
semantic index answers, then runs the modes interleaved, `--repeats` times, and prints the median per mode as JSON
lines. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
from pathlib import Path

import httpx
from serve_vs_uvicorn import parse_wrk  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
QUERIES = Path(__file__).with_name("search_queries.toml")
MODES = ("lexical", "semantic", "hybrid")


def paths(mode: str) -> list[str]:
    out = []
    for q in tomllib.loads(QUERIES.read_text())["query"]:
        params = {"q": q["q"], "lang": q.get("lang", "el"), "mode": mode, "limit": 5}
        out.append("/api/procedures/search?" + urllib.parse.urlencode(params))
    return out


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
                params={"q": "passport", "lang": "en", "mode": "semantic"},
                headers={"Authorization": f"Bearer {token_of(args.user)}"},
            )
            if r.status_code == 200:
                break
            if r.status_code != 503 or time.monotonic() > deadline:
                sys.exit(f"search not ready: {r.status_code} {r.text}")
            time.sleep(2)
        admin = {"Authorization": f"Bearer {token_of('admin')}"}
        total = client.get("/api/admin/procedures", params={"size": 1}, headers=admin).json()["total"]
    print(json.dumps({"bench": "setup", "procedures_total": total, "queries": len(paths("lexical"))}), flush=True)

    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for mode in MODES:
                script = Path(tmp) / f"{mode}.lua"
                script.write_text(lua(token_of(args.user), paths(mode)))
                cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
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
                    "rps": round(statistics.median(r["rps"] for r in runs), 1),
                    "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
                    "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
                    "errors": sum(int(r["errors"]) for r in runs),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

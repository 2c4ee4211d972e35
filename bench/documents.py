"""Documents per second, end to end, beside the two ways of printing the same page without the system.

    ./dev up
    .venv/bin/python bench/documents.py [--documents 60 --rounds 3]

Per round, in one run on the same machine, alternating:
- `system-receipt`: the system end to end, unsigned: `--documents` render requests over HTTP (one per fresh case of
  the demo office) → RabbitMQ `documents.render` → the Renderer actor → Chromium loads the internal page → metadata
  → object store → recorded on the case. Rate = documents / (first request → last document recorded); latency per
  document = request → its row (PostgreSQL's clock on both ends).
- `system-certificate`: the same with the signature (PAdES): the difference is the signature's cost.
- `bare-1` / `bare-2`: a bare Playwright loop on Debian's Chromium, one warm page (and two), printing the same
  receipt HTML with the same options (set_content + pdf): the ceiling of a warm-browser renderer.
- `weasyprint`: WeasyPrint on the same HTML, one process.

Prints one JSON line per measure and round, then medians and the ratios the issue asks for; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
import psutil
from playwright.async_api import async_playwright

from actors.documents import templates
from actors.documents.renderer import CHROMIUM_ARGS
from kepctl.devtokens import keycloak_token
from kepctl.realm import DEMO_PASSWORD
from kepctl.stack import StackSettings
from messages.documents import Lang, TemplateKind

EMPLOYEE = "giorgos.nikolaou"
HEADER = '<div style="font: 8pt DejaVu Sans; width: 100%; margin: 0 20mm">ΚΕΠ</div>'
FOOTER = '<div style="font: 8pt DejaVu Sans; width: 100%; margin: 0 20mm"><span class="pageNumber"></span></div>'


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "documents"} | fields, ensure_ascii=False), flush=True)


def summary(durations_s: list[float], total_s: float) -> dict[str, float]:
    ordered = sorted(durations_s)
    return {
        "docs_per_s": round(len(ordered) / total_s, 2),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[max(0, int(0.95 * len(ordered)) - 1)], 1),
    }


def sample_html() -> str:
    return templates.render(
        templates.shipped_body(TemplateKind.RECEIPT, Lang.EL),
        templates.sample_context(TemplateKind.RECEIPT, Lang.EL) | {"form": {}},
    )


async def bare(html: str, documents: int, pages: int) -> dict[str, float]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_ARGS))
        warm = [await browser.new_page() for _ in range(pages)]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(documents):
            queue.put_nowait(i)
        durations: list[float] = []

        async def loop(page: Any) -> None:
            while not queue.empty():
                queue.get_nowait()
                began = time.perf_counter()
                await page.set_content(html, wait_until="load")
                await page.pdf(format="A4", print_background=True, prefer_css_page_size=True, tagged=True,
                               outline=True, display_header_footer=True, header_template=HEADER,
                               footer_template=FOOTER)  # fmt: skip
                durations.append(time.perf_counter() - began)

        await loop(warm[0])  # warm-up: fonts and the page's first layout
        for i in range(documents):
            queue.put_nowait(i)
        durations.clear()
        started = time.perf_counter()
        await asyncio.gather(*(loop(page) for page in warm))
        total = time.perf_counter() - started
        await browser.close()
    return summary(durations, total)


def weasyprint(html: str, documents: int) -> dict[str, float]:
    from weasyprint import HTML

    HTML(string=html).write_pdf()  # warm-up
    durations = []
    started = time.perf_counter()
    for _ in range(documents):
        began = time.perf_counter()
        HTML(string=html).write_pdf()
        durations.append(time.perf_counter() - began)
    return summary(durations, time.perf_counter() - started)


class System:
    def __init__(self, stack: StackSettings) -> None:
        self.stack = stack
        self.base = f"http://127.0.0.1:{stack.http_port}"

    async def __aenter__(self) -> System:
        token = await asyncio.to_thread(keycloak_token, self.stack, EMPLOYEE, DEMO_PASSWORD)
        self.http = httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.db = await asyncpg.connect(self.stack.database_url())
        # a procedure of the bench's own, without a form or a process: only the bench's requests render
        self.procedure = await self.db.fetchval(
            """INSERT INTO procedures (id, mitos_id, title_el, payload, active)
               VALUES (gen_random_uuid(), 'bench-documents', 'Βεβαίωση μόνιμης κατοικίας (bench)', '{}', true)
               ON CONFLICT (mitos_id) DO UPDATE SET active = true RETURNING id"""
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.db.close()

    async def cases(self, count: int) -> list[str]:
        opened = []
        for _ in range(count):
            citizen = {"afm": "090000045", "first_name": "Ελένη", "last_name": "Παπαδάκη"}
            body = {"procedure_id": str(self.procedure), "citizen": citizen}
            resp = await self.http.post("/api/cases", json=body, headers={"X-Request-ID": uuid.uuid4().hex})
            resp.raise_for_status()
            opened.append(resp.json()["id"])
        return opened

    async def run(self, kind: str, documents: int) -> dict[str, float]:
        cases = await self.cases(documents)
        asked_at: dict[str, float] = {}
        started = await self.db.fetchval("SELECT extract(epoch FROM clock_timestamp())")
        for case in cases:
            asked_at[case] = await self.db.fetchval("SELECT extract(epoch FROM clock_timestamp())")
            resp = await self.http.post(f"/api/cases/{case}/documents/render", json={"kind": kind})
            resp.raise_for_status()
        ids = [uuid.UUID(c) for c in cases]
        while True:
            rows = await self.db.fetch(
                """SELECT d.case_id, extract(epoch FROM e.at) AS at FROM documents d
                   JOIN case_events e ON e.case_id = d.case_id AND e.type = 'case.document_added'
                   WHERE d.case_id = ANY($1) AND d.template_id IS NOT NULL""",
                ids,
            )
            if len(rows) >= documents:
                break
            await asyncio.sleep(0.2)
        durations = [float(r["at"]) - float(asked_at[str(r["case_id"])]) for r in rows]
        total = max(float(r["at"]) for r in rows) - float(started)
        return summary(durations, total)


def renderer_pss_mib() -> float:
    """The renderer worker, its Playwright driver and its Chromium: proportional set size (shared pages counted
    once across them), as the kernel reports it."""
    total = 0
    for proc in psutil.process_iter(["cmdline"]):
        if (proc.info["cmdline"] or [""])[0].startswith("ray::Renderer"):
            for p in (proc, *proc.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    total += p.memory_full_info().pss
    return total / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    html = sample_html()
    emit(setup=True, cores=os.cpu_count(), documents=args.documents, rounds=args.rounds)
    results: dict[str, list[dict[str, float]]] = {}
    async with System(StackSettings()) as system:
        for round_ in range(args.rounds):
            for name, measure in (
                ("system-receipt", lambda: system.run("receipt", args.documents)),
                ("bare-1", lambda: bare(html, args.documents, 1)),
                ("system-certificate", lambda: system.run("certificate", args.documents)),
                ("bare-2", lambda: bare(html, args.documents, 2)),
                ("weasyprint", lambda: asyncio.to_thread(weasyprint, html, args.documents)),
            ):
                figures = await measure()
                results.setdefault(name, []).append(figures)
                emit(round=round_, measure=name, **figures, renderer_pss_mib=round(renderer_pss_mib(), 1))
    medians = {name: statistics.median(r["docs_per_s"] for r in runs) for name, runs in results.items()}
    emit(medians_docs_per_s=medians)
    emit(
        ratios={
            "system_receipt_vs_bare_1": round(medians["system-receipt"] / medians["bare-1"], 2),
            "system_receipt_vs_bare_2": round(medians["system-receipt"] / medians["bare-2"], 2),
            "system_receipt_vs_weasyprint": round(medians["system-receipt"] / medians["weasyprint"], 2),
            "signature_cost_ms_per_doc": round(
                1000 * (1 / medians["system-certificate"] - 1 / medians["system-receipt"]), 1
            ),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())

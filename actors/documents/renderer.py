"""Renderer: a Ray actor owning one warm Chromium and a few reused pages, consuming render jobs from
`documents.render` (so the autoscaler sizes the pool by that queue's depth).

One job: read the case's inputs and the template version, derive the document (id, verification code) from
(case, template version, inputs hash), and if the case does not hold it yet: fetch the internal render page with a
render token for exactly that document and have Chromium print it, sign a certificate (PAdES) or stamp a receipt's
metadata, store the PDF, and record it on the case (a command keyed by the document: applied once). A job of the
case process then reports its outcome to the bridge, as a task worker does.

Faults: a browser that dies is launched again and the job fails as transient (redelivered, rendered once: the
document is keyed); a page that hangs past `render_timeout_s` is closed and replaced; Playwright's driver takes its
Chromium down with it when this process dies, so a killed actor leaves no browser behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import psutil
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from actors.cases import documents as case_documents
from actors.cases.lockstep import DOCUMENTS_ACTOR, PROCESS_ACTOR
from actors.cases.shards import CaseShards
from actors.cases.store import document_key
from actors.cases.topics import PROCESS_ROLES
from actors.documents import inputs, signing, tokens
from actors.documents import store as templates_store
from actors.documents.identity import identity_from_settings
from actors.ray_options import ActorHandle, actor_class
from bpmn_bridge.handlers import outcome
from bpmn_bridge.worker import RESULTS_KEY, RESULTS_QUEUE
from infra import amqp, metrics
from infra.consumer import CONSUMER_STALE_S, ConsumerGroup
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from infra.storage import create_store
from messages.cases import CaseAction, CaseCommand, DocumentView
from messages.documents import (
    GENERATED_KIND,
    RENDER_QUEUE,
    RENDER_TOPIC,
    RENDER_TOPIC_OPTIONS,
    Lang,
    RenderRequest,
    TemplateKind,
)
from messages.errors import NotFound, RetryableError
from messages.tasks import TaskCommand, TaskFailed

log = structlog.get_logger("renderer")
RENDERER = "kep-renderer"
TASK_MESSAGE = "kep.task.command"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--font-render-hinting=none")
_RUNNING = {name: re.compile(rf'<template\s+id="{name}"\s*>(.*?)</template>', re.DOTALL)
            for name in ("page-header", "page-footer")}  # fmt: skip


def _running(html: str, name: str) -> str:
    """A template's running header or footer (Chromium repeats it on every page); an empty one where it has none."""
    found = _RUNNING[name].search(html)
    return found.group(1) if found else "<span></span>"


class BrowserGone(RetryableError):
    """Chromium died or a page hung mid-render: the job is tried again on a fresh one."""


class Renderer:
    async def __init__(  # type: ignore[misc]  # Ray awaits async __init__
        self, settings: Settings, pages: int | None = None
    ) -> None:
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.pages_wanted = pages or settings.renderer_pages
        self.secret = settings.render_secret.get_secret_value().encode()
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 1, 4)
        async with self.pool.acquire() as conn:
            await templates_store.ensure_shipped(conn=conn)
        self.store = create_store(settings)
        self.cases = CaseShards(settings.case_shards, settings.ray_namespace)
        self.identity = identity_from_settings(settings)
        self.jobs = 0
        self.rendered = 0
        self.relaunches = 0
        self._playwright: Playwright = await async_playwright().start()
        self._browser: Browser | None = None
        self._context: BrowserContext
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(settings.render_timeout_s))
        self._pages: asyncio.Queue[Page] = asyncio.Queue()
        self._launch_lock = asyncio.Lock()
        await self._launch()
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), "kep-renderer")
        publishing = await self._amqp.channel(publisher_confirms=True)
        self._exchange: AbstractExchange = await amqp.tasks_exchange(publishing)
        await amqp.declare_queue(publishing, RESULTS_QUEUE, [amqp.Binding(amqp.TASKS_EXCHANGE, RESULTS_KEY)])
        consuming = await self._amqp.channel()
        queue = await amqp.declare_queue(consuming, RENDER_QUEUE, [amqp.Binding(amqp.TASKS_EXCHANGE, RENDER_TOPIC)])
        self._consumers = ConsumerGroup(stale_after_s=CONSUMER_STALE_S)
        await self._consumers.consume(queue, self._handle, prefetch=self.pages_wanted)

    # -- the browser --------------------------------------------------------------------------------------------

    async def _launch(self) -> None:
        """A fresh Chromium and its pages (the old one, if any, is closed first)."""
        async with self._launch_lock:
            if self._browser is not None and self._browser.is_connected():
                return
            if self._browser is not None:
                self.relaunches += 1
                metrics.renderer_relaunched()
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(self.settings.chromium_path), args=list(CHROMIUM_ARGS)
            )
            # a template runs no script and fetches nothing: whatever it names outside itself is refused
            self._context = await self._browser.new_context(java_script_enabled=False)
            await self._context.route("**/*", lambda route: route.abort())
            self._pages = asyncio.Queue()
            for _ in range(self.pages_wanted):
                self._pages.put_nowait(await self._context.new_page())

    async def _fetch(self, url: str) -> str:
        """The render page, as the HTTP app serves it for this token."""
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise RetryableError(f"the render page could not be fetched: {type(exc).__name__}") from None
        if response.status_code != 200:
            # 403: the case changed since the job read it; the job is tried again and reads it anew
            raise RetryableError(f"the render page answered {response.status_code}")
        return response.text

    async def _print(self, url: str) -> bytes:
        """One render page printed on a reused page; a page that fails or hangs is replaced, a dead browser
        relaunched. The page's HTML is fetched here and set into the page (a navigation per document costs Chromium
        as much as the printing: bench/README.md)."""
        try:
            async with asyncio.timeout(self.settings.render_timeout_s):
                html = await self._fetch(url)
        except TimeoutError:
            raise RetryableError("the render page did not come within the render timeout") from None
        header, footer = (_running(html, "page-header"), _running(html, "page-footer"))
        page = await self._pages.get()
        try:
            async with asyncio.timeout(self.settings.render_timeout_s):
                await page.set_content(html, wait_until="load")
                pdf = await page.pdf(format="A4", print_background=True, prefer_css_page_size=True, tagged=True,
                                     outline=True, display_header_footer=True, header_template=header,
                                     footer_template=footer)  # fmt: skip
            await self._give_back(page)
            return pdf
        except (PlaywrightError, TimeoutError) as exc:
            await self._replace(page)
            raise BrowserGone(f"the render failed in Chromium: {type(exc).__name__}: {exc}") from None
        except BaseException:
            await self._give_back(page)
            raise

    async def _give_back(self, page: Page) -> None:
        """A page of the browser in use goes back to the pool; one of a browser relaunched meanwhile is closed (the
        new browser came with its own pages: the pool never grows)."""
        if page.context is self._context:
            self._pages.put_nowait(page)
        else:
            with contextlib.suppress(PlaywrightError):
                await page.close()

    async def _replace(self, page: Page) -> None:
        with contextlib.suppress(PlaywrightError):
            await page.close()
        if page.context is not self._context:
            return  # a page of a browser relaunched meanwhile: the new one has its pages
        if self._browser is None or not self._browser.is_connected():
            await self._launch()  # every page is new then
            return
        try:
            self._pages.put_nowait(await self._context.new_page())
        except PlaywrightError:
            await self._launch()

    # -- jobs -----------------------------------------------------------------------------------------------------

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            await self._job(message)
        finally:
            self.jobs += 1
            metrics.render_job()

    async def _job(self, message: AbstractIncomingMessage) -> None:
        if message.type == TASK_MESSAGE:
            await self._task(TaskCommand.model_validate_json(message.body))
            return
        request = RenderRequest.model_validate_json(message.body)
        try:
            await self.render(request)
        except NotFound:
            log.info("render_dropped", case_id=str(request.case_id), reason="the case is gone")

    async def _task(self, task: TaskCommand) -> None:
        """A step of the case process: rendered, then its outcome published for the bridge (acked after)."""
        result: dict[str, Any] | BaseException
        try:
            result = {"documentId": str((await self.render(await self._from_task(task))).id)}
        except Exception as exc:  # every failure becomes an outcome the engine hears about
            result = exc
        out = outcome(task, RENDER_TOPIC_OPTIONS, result)
        message = amqp.raw_message(out.model_dump_json().encode(), f"{task.task_id}:{out.kind}", "kep.task.outcome")
        await amqp.publish(self._exchange, message, routing_key=RESULTS_KEY)

    async def _from_task(self, task: TaskCommand) -> RenderRequest:
        try:
            case_id = uuid.UUID(task.business_key or "")
            kind = TemplateKind(task.variables.get("template", ""))
            lang = Lang(task.variables.get("lang") or Lang.EL.value)
        except ValueError as exc:
            raise TaskFailed(f"a render step needs a case and a template: {exc}", retry=False) from None
        async with self.pool.acquire() as conn:
            office = await conn.fetchval("SELECT office_id FROM cases WHERE id = $1", case_id)
        if office is None:
            raise TaskFailed(f"case {case_id} does not exist", retry=False)
        return RenderRequest(case_id=case_id, office_id=office, kind=kind, lang=lang, requested_by=PROCESS_ACTOR,
                             task=task)  # fmt: skip

    async def render(self, request: RenderRequest) -> DocumentView:
        """The case's document for the request: the one it holds already, or a new one rendered and recorded."""
        async with self.pool.acquire() as conn:
            case = await conn.fetchval(
                "SELECT procedure_id FROM cases WHERE id = $1 AND office_id = $2", request.case_id, request.office_id
            )
            if case is None:
                raise NotFound(f"case {request.case_id} not found")
            template = await templates_store.current(conn=conn, procedure_id=case, kind=request.kind,
                                                     lang=request.lang)  # fmt: skip
            made_of = await inputs.gather(conn=conn, case_id=request.case_id, office_id=request.office_id,
                                          lang=request.lang)  # fmt: skip
            digest = inputs.inputs_hash(made_of)
            doc_id = inputs.document_id(request.case_id, template.id, digest)
            try:
                return await case_documents.document(conn=conn, case_id=request.case_id, document_id=doc_id,
                                                     office_id=request.office_id)  # fmt: skip
            except NotFound:
                pass
        issued_at = datetime.now(UTC)
        claims = tokens.RenderClaims(request.case_id, request.office_id, template.id, request.kind, request.lang,
                                     digest, doc_id, issued_at)  # fmt: skip
        printing = time.perf_counter()
        pdf = await self._print(self._page_url(tokens.issue(self.secret, claims)))
        printed_s = time.perf_counter() - printing
        number = made_of["case"]["number"]
        title = f"{_TITLES[request.kind][request.lang]} {number}"
        author = made_of["office"]["name"]
        signed = request.kind is TemplateKind.CERTIFICATE and self.identity is not None
        if signed:
            assert self.identity is not None
            pdf = await signing.sign_pdf(self.identity, pdf, title=title, author=author, lang=request.lang.value,
                                         reason=title, location=author)  # fmt: skip
        else:
            pdf = await signing.set_metadata(pdf, title=title, author=author, lang=request.lang.value)
        document = DocumentView(
            id=doc_id,
            case_id=request.case_id,
            kind=GENERATED_KIND,
            filename=f"{request.kind.value}-{number.replace('/', '-')}.pdf",
            content_type="application/pdf",
            size_bytes=len(pdf),
            sha256=hashlib.sha256(pdf).hexdigest(),
            created_by=DOCUMENTS_ACTOR,
            created_at=issued_at,
            template_id=template.id,
            inputs_hash=digest,
            verification_code=inputs.verification_code(self.secret, doc_id),
            signed=signed,
        )
        # stored before it is recorded (a retry overwrites the same key); recorded once (the command is keyed)
        await self.store.put(document_key(request.case_id, doc_id), pdf, "application/pdf")
        command = CaseCommand(
            command_id=uuid.uuid5(doc_id, "issued"),
            case_id=request.case_id,
            office_id=request.office_id,
            actor=DOCUMENTS_ACTOR,
            roles=PROCESS_ROLES,
            action=CaseAction.ATTACH,
            reason=f"{request.kind.value} issued (asked by {request.requested_by})",
            request_id=request.request_id,
            document=document,
        )
        await self.cases.apply(command)
        self.rendered += 1
        metrics.rendered(request.kind.value, printed_s)
        log.info("document_rendered", case_id=str(request.case_id), kind=request.kind.value, bytes=len(pdf))
        return document

    async def preview(self, case_id: uuid.UUID, template_id: uuid.UUID) -> bytes:
        """A template version printed with a case's inputs (an administrator's preview): nothing is stored."""
        async with self.pool.acquire() as conn:
            office = await conn.fetchval("SELECT office_id FROM cases WHERE id = $1", case_id)
            if office is None:
                raise NotFound(f"case {case_id} not found")
            template = await templates_store.get(conn=conn, template_id=template_id)
            made_of = await inputs.gather(conn=conn, case_id=case_id, office_id=office, lang=template.lang)
        digest = inputs.inputs_hash(made_of)
        claims = tokens.RenderClaims(case_id, office, template.id, template.kind, template.lang, digest,
                                     inputs.document_id(case_id, template.id, digest), datetime.now(UTC))  # fmt: skip
        return await self._print(self._page_url(tokens.issue(self.secret, claims)))

    def _page_url(self, token: str) -> str:
        return f"{self.settings.render_pages_url.rstrip('/')}/internal/render/{token}"

    # -- for tests and the autoscaler ------------------------------------------------------------------------------

    async def stats(self) -> dict[str, int]:
        busy = self._consumers.busy
        pages = self._pages.qsize()
        return {"jobs": self.jobs, "rendered": self.rendered, "relaunches": self.relaunches, "busy": busy,
                "pages": pages}  # fmt: skip

    async def browser_pid(self) -> int | None:
        """Chromium's main process (a test kills it to prove the relaunch)."""
        for child in _chromium():
            with contextlib.suppress(psutil.Error):
                if not any(a.startswith("--type=") for a in child.cmdline()):
                    return int(child.pid)
        return None

    async def chromium_pids(self) -> list[int]:
        """Every Chromium process this renderer started (a test proves none outlives the actor)."""
        return [p.pid for p in _chromium()]

    async def drain(self, timeout_s: float = 60.0) -> int:
        left = await self._consumers.drain(timeout_s)
        await self.close()
        return left

    async def close(self) -> None:
        await self._amqp.close()
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
        await self._playwright.stop()
        await self._http.aclose()
        await self.pool.close()


def _chromium() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in child.name():
                found.append(child)
    return found


_TITLES = {
    TemplateKind.RECEIPT: {Lang.EL: "Απόδειξη υποβολής αίτησης", Lang.EN: "Receipt of application"},
    TemplateKind.CERTIFICATE: {Lang.EL: "Βεβαίωση ολοκλήρωσης", Lang.EN: "Certificate of completion"},
}

RendererActor = actor_class(Renderer, max_restarts=-1, max_task_retries=0)


def pool_member(name: str, settings: Settings, pages: int | None = None) -> ActorHandle:
    """One renderer of the pool `RENDERER-<i>`, which the autoscaler sizes; detached like the task workers."""
    handle: ActorHandle = RendererActor.options(name=name, lifetime="detached", get_if_exists=True).remote(
        settings, pages
    )
    return handle

"""Async client of the Mitos API: the endpoints the catalogue sync reads (pyemdd's wire protocol and transforms),
with timeouts, retries and typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
from pydantic import ValidationError

from actors.catalog.errors import (
    MalformedRecord,
    MitosAuthFailed,
    MitosBadResponse,
    MitosError,
    MitosNotFound,
    MitosRejected,
    MitosTimeout,
    MitosUnavailable,
)
from infra.retry import Backoff, retrying
from messages.mitos import (
    CatalogProcedure,
    MitosListItem,
    MitosProcessRecord,
    MitosRef,
    MitosServicePage,
    duration_days,
    is_eugo,
    is_mykeplive_group,
    ref_id,
)

DEFAULT_BASE_URL = "https://api.digigov.grnet.gr"

Json = dict[str, Any]


DEFAULT_RETRY = Backoff(initial_s=0.5, max_s=8.0, jitter_s=0.5, attempts=4)


@dataclass(frozen=True)
class FetchResult:
    """One list item and either its normalised procedure or the error that kept us from it."""

    item: MitosListItem
    procedure: CatalogProcedure | None = None
    error: MitosError | None = field(default=None)


class MitosClient:
    """One HTTP connection pool to Mitos; use as `async with MitosClient(url) as mitos:`."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        retry: Backoff | None = None,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json", "Cache-Control": "no-cache", "User-Agent": "kep-backoffice"}
        if api_key is not None:
            headers["x-api-key"] = api_key
        self.retry = retry or DEFAULT_RETRY
        self.concurrency = concurrency
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # transport: one GET, with retries on what may pass on its own

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Json:
        async for attempt in retrying(self.retry, retry_on=lambda e: isinstance(e, MitosUnavailable)):
            with attempt:
                return await self._get_once(path, params)
        raise AssertionError("tenacity ends with a return or a raise")  # pragma: no cover

    async def _get_once(self, path: str, params: Mapping[str, str | int] | None) -> Json:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise MitosTimeout(f"Mitos did not answer {path} in time", path=path) from exc
        except httpx.TransportError as exc:
            raise MitosUnavailable(f"Mitos unreachable on {path}: {exc!r}", path=path) from exc
        code = response.status_code
        if code >= 500:
            raise MitosUnavailable(f"Mitos answered {code} on {path}", path=path, status_code=code)
        if code == 404:
            raise MitosNotFound(f"Mitos has nothing at {path}", path=path)
        if code in (401, 403):
            raise MitosAuthFailed(f"Mitos refused our credentials ({code}) on {path}", path=path, status_code=code)
        if code >= 400:
            raise MitosRejected(
                f"Mitos rejected {path} with {code}: {response.text[:200]}", path=path, status_code=code
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise MitosBadResponse(f"Mitos answered {path} with something that is not JSON", path=path) from exc
        if not isinstance(body, dict) or body.get("success") is not True or "data" not in body:
            raise MitosBadResponse(f"Mitos answered {path} without a successful envelope", path=path)
        return body

    # the endpoints the catalogue sync reads, as pyemdd calls them

    async def list_page(self, page: int = 1, limit: int = 100) -> MitosServicePage:
        body = await self._get("/v1/services", {"page": page, "limit": limit})
        try:
            return MitosServicePage.model_validate(body)
        except ValidationError as exc:
            raise MitosBadResponse(f"Mitos list page {page} has an unexpected shape: {exc}", page=page) from exc

    async def list_all(self, *, limit: int = 200) -> list[MitosListItem]:
        """Every list item, paging until `total` as MitosLOD does; duplicates from a shifting list are dropped."""
        items: dict[int, MitosListItem] = {}
        page, pages_seen = 1, 0
        while True:
            batch = await self.list_page(page, limit)
            pages_seen += 1
            for item in batch.data:
                items.setdefault(item.id, item)
            if not batch.data or len(items) >= batch.total or pages_seen > batch.total // limit + 1:
                return list(items.values())
            page = batch.next_page or page + 1

    async def get_extended_process(self, mitos_id: int | str, *, english: bool = False) -> Json:
        """`/v1/services-extended/{id}`, with the id carried over when the body lacks it."""
        data = await self._data(f"/v1/services-extended/{mitos_id}", english=english)
        if data.get("id") is None:
            data["id"] = int(mitos_id)
        return mark_mykeplive(data)

    async def check_health(self) -> None:
        """Raises a MitosError unless Mitos answers a one-item list page."""
        await self.list_page(1, 1)

    async def _data(self, path: str, *, english: bool = False) -> Json:
        data = (await self._get(path, {"lang": "en"} if english else None))["data"]
        if not isinstance(data, dict):
            raise MitosBadResponse(f"Mitos answered {path} with data that is not an object", path=path)
        return data

    # procedures, ready for the catalogue

    async def fetch_procedure(self, item: MitosListItem, *, english: bool = True) -> CatalogProcedure:
        """The extended record, plus its English one when the list says a translation exists."""
        payload = await self.get_extended_process(item.id)
        payload_en = None
        if english and item.title is not None and item.title.en:
            payload_en = await self.get_extended_process(item.id, english=True)
        return normalise(payload, payload_en, mitos_id=item.id, list_item=item)

    async def fetch_many(self, items: Iterable[MitosListItem], *, english: bool = True) -> list[FetchResult]:
        """Fetch with at most `concurrency` requests in flight; each item's failure stays with that item."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: MitosListItem) -> FetchResult:
            async with gate:
                try:
                    return FetchResult(item, procedure=await self.fetch_procedure(item, english=english))
                except MitosError as exc:
                    return FetchResult(item, error=exc)

        return list(await asyncio.gather(*(one(item) for item in items)))


def mark_mykeplive(payload: Json) -> Json:
    """pyemdd's `_is_my_keplive`: set `is_served_via_mykeplive` when group 8256 provides the procedure."""
    metadata = payload.get("metadata")
    process = metadata.get("process") if isinstance(metadata, dict) else None
    if not isinstance(process, dict):
        return payload
    for key in ("provision_org_group", "provision_org_group_remote"):
        groups = process.get(key) or []
        if isinstance(groups, list) and any(_is_mykeplive_raw(g) for g in groups):
            process["is_served_via_mykeplive"] = True
            break
    return payload


def _is_mykeplive_raw(group: object) -> bool:
    if isinstance(group, dict):
        title = group.get("title")
        return str(group.get("id")) == "8256" or (isinstance(title, dict) and title.get("el") == "myKEPlive")
    return isinstance(group, str | int) and not isinstance(group, bool) and str(group) == "8256"


def normalise(
    payload: Json,
    payload_en: Json | None = None,
    *,
    mitos_id: int | None = None,
    list_item: MitosListItem | None = None,
) -> CatalogProcedure:
    """The catalogue's view of one extended record; a record without the shape we need raises MalformedRecord."""
    try:
        record = MitosProcessRecord.model_validate(payload)
        record_en = MitosProcessRecord.model_validate(payload_en) if payload_en is not None else None
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise MalformedRecord(f"Mitos record {mitos_id} is malformed at {fields}", mitos_id=mitos_id) from exc
    process = record.metadata.process if record.metadata is not None else None
    if process is None:
        raise MalformedRecord(f"Mitos record {mitos_id} has no metadata.process", mitos_id=mitos_id)
    the_id = mitos_id if mitos_id is not None else record.id
    if the_id is None and process.id is not None and process.id.isdigit():
        the_id = int(process.id)
    if the_id is None:
        raise MalformedRecord("Mitos record carries no id", mitos_id=None)
    title_el = (record.title.el if record.title else None) or process.official_title
    if not title_el:
        raise MalformedRecord(f"Mitos record {the_id} has no Greek title", mitos_id=the_id)
    en_process = record_en.metadata.process if record_en and record_en.metadata else None
    title_en = (record.title.en if record.title else None) or (
        record_en.title.en if record_en and record_en.title else None
    )
    description_en = en_process.description if en_process else None
    groups = [*(process.provision_org_group or []), *(process.provision_org_group_remote or [])]
    owner = process.org_owner
    return CatalogProcedure(
        mitos_id=the_id,
        uuid=process.uuid,
        title_el=title_el,
        title_en=title_en,
        official_title=process.official_title,
        alternative_titles=process.alternative_titles or [],
        description_el=process.description,
        description_en=description_en if description_en != process.description else None,
        status=process.status,
        owner_org_id=ref_id(owner),
        owner_org_title=owner.title if isinstance(owner, MitosRef) else None,
        categories=process.life_events or [],
        provided_to=process.provided_to or [],
        is_eugo=is_eugo(process),
        is_served_via_mykeplive=bool(process.is_served_via_mykeplive) or any(is_mykeplive_group(g) for g in groups),
        cost_min=process.cost_min,
        cost_max=process.cost_max,
        implementation_days=duration_days(process.estimated_implementation_time),
        deadline_days=duration_days(process.deadline_duration),
        validity_days=duration_days(process.validity_duration),
        url=record.url,
        last_updated=record.last_updated or (list_item.last_updated if list_item else None),
        payload={**payload, "id": the_id},
    )

"""Fetching every page of a paged operation.

- ``X-Pages`` operations: page 1, then pages 2..N at once (``ESI_PAGE_CONCURRENCY`` threads
  over the shared pool), joined in page order. All pages of one snapshot share
  ``Last-Modified`` and ``X-Pages``; if a page disagrees the snapshot changed mid-crawl and the
  crawl restarts (revalidating every page), at most :data:`MAX_RESTARTS` times.
- cursor operations (``before``/``after``): walked until a page comes back empty.
- ``from_id``/``last_mail_id`` operations: walked backwards from the newest record.

At most ``ESI_MAX_PAGES`` pages per call: a larger ``X-Pages`` raises ``EsiResponseTooLarge``
before page 2 is asked for; a walk stops after that many steps.

:data:`page_progress` (a context variable, e.g. set by ``esi_fetch --all-pages``) is called with
the operation id and the page count after each ``X-Pages`` page arrives, from the crawl's threads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from esi.app_settings import esi_settings
from esi.client._caps import cap, note_capped
from esi.client._operations import TokenContext
from esi.client._response import EsiResponse
from esi.client._spec import Operation
from esi.exceptions import EsiNotFound, EsiResponseTooLarge, EsiTransportError

__all__ = ["MAX_RESTARTS", "crawl_pages", "page_progress", "walk_cursor", "walk_from_id"]

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3
_ID_FIELDS = {"from_id": "transaction_id", "last_mail_id": "mail_id"}

Fetch = Callable[[Operation, dict[str, Any], TokenContext, str | None, bool], EsiResponse]

#: ``callback(operation_id, total_pages)`` after each page of an ``X-Pages`` crawl, or ``None``.
page_progress: ContextVar[Callable[[str, int], None] | None] = ContextVar("esi_page_progress", default=None)


class _SnapshotChanged(Exception):
    pass


def _join(responses: list[EsiResponse]) -> EsiResponse:
    first = responses[0]
    data: list[Any] = []
    for r in responses:
        if isinstance(r.data, list):
            data.extend(r.data)
        elif r.data is not None:
            data.append(r.data)
    expires = [r.expires for r in responses if r.expires is not None]
    return replace(
        first,
        data=data,
        expires=min(expires) if expires else None,
        pages=len(responses),
        from_cache=all(r.from_cache for r in responses),
        not_modified=all(r.not_modified for r in responses),
    )


def _walked(like: EsiResponse, data: Any, steps: int, *, etag: str | None) -> EsiResponse:
    """The result of a cursor/from_id walk: ``like``'s status and caching facts, all records.

    Never ``from_cache``/``not_modified``: the walk as a whole was assembled now.
    """
    return replace(like, data=data, etag=etag, pages=steps, from_cache=False, not_modified=False)


def crawl_pages(
    fetch: Fetch, op: Operation, values: dict[str, Any], ctx: TokenContext, language: str | None, force: bool
) -> EsiResponse:
    """Every page of an ``X-Pages`` operation, in page order."""
    concurrency = max(1, int(esi_settings.ESI_PAGE_CONCURRENCY))
    report = page_progress.get()  # read here: the page threads do not see this context
    for attempt in range(MAX_RESTARTS + 1):
        refresh = force or attempt > 0
        first = fetch(op, {k: v for k, v in values.items() if k != "page"}, ctx, language, refresh)
        total = first.pages or 1
        if report is not None:
            report(op.id, total)
        if total <= 1:
            return _join([first])
        _check_pages(op, total)

        def page(n: int, refresh: bool = refresh, total: int = total, first: EsiResponse = first) -> EsiResponse:
            try:
                r = fetch(op, {**values, "page": n}, ctx, language, refresh)
            except EsiNotFound as exc:  # the snapshot shrank under us
                raise _SnapshotChanged(f"page {n} of {total} is gone") from exc
            if r.pages != total or r.last_modified != first.last_modified:
                raise _SnapshotChanged(
                    f"page {n}: X-Pages {r.pages} / Last-Modified {r.last_modified} instead of "
                    f"{total} / {first.last_modified}"
                )
            if report is not None:
                report(op.id, total)
            return r

        with ThreadPoolExecutor(max_workers=min(concurrency, total - 1), thread_name_prefix="esi-page") as pool:
            futures = [pool.submit(page, n) for n in range(2, total + 1)]
            _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            try:
                rest = [f.result() for f in futures]
            except _SnapshotChanged as exc:
                logger.info("ESI %s: snapshot changed mid-crawl (%s); restarting", op.id, exc)
                continue
        return _join([first, *rest])
    raise EsiTransportError(
        f"{op.id}: the pages kept changing while they were fetched ({MAX_RESTARTS} restarts); try again later."
    )


def _check_pages(op: Operation, total: int) -> None:
    """Refuse a crawl of more than ``ESI_MAX_PAGES`` pages before any of them is requested."""
    most = int(cap("ESI_MAX_PAGES"))
    if total > most:
        note_capped("ESI_MAX_PAGES", total, f"X-Pages for {op.id} of")
        raise EsiResponseTooLarge(
            f"{op.id}: ESI says there are {total} pages, more than ESI_MAX_PAGES ({most}); none but the first "
            "was fetched. Raise the setting if that many pages are real."
        )


def _max_steps(op: Operation, steps: int) -> bool:
    """Whether a cursor/from_id walk has made ``ESI_MAX_PAGES`` requests (logged once)."""
    if steps < int(cap("ESI_MAX_PAGES")):
        return False
    note_capped("ESI_MAX_PAGES", steps, f"a walk of {op.id} still going after (steps)")
    return True


def _records_key(body: dict[str, Any]) -> str | None:
    for key, value in body.items():
        if key != "cursor" and isinstance(value, list):
            return key
    return None


def walk_cursor(
    fetch: Fetch, op: Operation, values: dict[str, Any], ctx: TokenContext, language: str | None, force: bool
) -> EsiResponse:
    """Walk a cursor operation: backwards with ``before`` (default) or forwards from ``after``.

    Returns the records of every step (duplicates dropped) and ``cursor``: the ``before`` to
    continue the history and the ``after`` to poll for new or changed records later.
    """
    direction = "after" if values.get("after") is not None else "before"
    params = dict(values)
    records: list[Any] = []
    seen: set[str] = set()
    key: str | None = None
    first_cursor: dict[str, Any] | None = None
    cursor: dict[str, Any] = {}
    last: EsiResponse | None = None
    steps = 0
    while True:
        steps += 1
        last = fetch(op, params, ctx, language, force)
        body = last.data if isinstance(last.data, dict) else {}
        key = key or _records_key(body)
        page = body.get(key, []) if key else []
        cursor = body.get("cursor") or {}
        if first_cursor is None:
            first_cursor = cursor
        for rec in page:
            marker = json.dumps(rec, sort_keys=True, default=str)
            if marker not in seen:
                seen.add(marker)
                records.append(rec)
        nxt = cursor.get(direction)
        if not page or not nxt or nxt == params.get(direction) or _max_steps(op, steps):
            break
        params = {k: v for k, v in values.items() if k not in ("before", "after")}
        params[direction] = nxt
    assert last is not None and first_cursor is not None
    if direction == "before":
        final = {"before": cursor.get("before"), "after": first_cursor.get("after")}
    else:
        final = {"before": first_cursor.get("before"), "after": cursor.get("after") or params.get("after")}
    return _walked(last, {key or "records": records, "cursor": final}, steps, etag=None)


def walk_from_id(
    fetch: Fetch, op: Operation, values: dict[str, Any], ctx: TokenContext, language: str | None, force: bool
) -> EsiResponse:
    """Walk a ``from_id``/``last_mail_id`` operation backwards until no older records come."""
    param = "from_id" if "from_id" in op.parameters else "last_mail_id"
    id_field = _ID_FIELDS[param]
    params = dict(values)
    records: list[Any] = []
    seen: set[Any] = set()
    first: EsiResponse | None = None
    steps = 0
    while True:
        steps += 1
        r = fetch(op, params, ctx, language, force)
        first = first or r
        page = [rec for rec in (r.data or []) if isinstance(rec, dict)]
        new = [rec for rec in page if rec.get(id_field) not in seen]
        if not new:
            break
        bound = params.get(param)
        if bound is not None and any(isinstance(rec.get(id_field), int) and rec[id_field] > bound for rec in page):
            # The server ignored the bound (records newer than it came back): stop rather than walk forever.
            logger.warning("ESI %s ignored %s=%s; stopping the walk", op.id, param, bound)
            break
        for rec in new:
            seen.add(rec.get(id_field))
            records.append(rec)
        ids = [rec[id_field] for rec in new if isinstance(rec.get(id_field), int)]
        if not ids or _max_steps(op, steps):
            break
        params = {**values, param: min(ids)}
    assert first is not None
    return _walked(first, records, steps, etag=first.etag)

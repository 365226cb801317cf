"""What a crawl of a paged operation needs besides sending: checks, joins and walks, no I/O.

The client's loops (``EsiClient.iter_pages`` and ``call(all_pages=True)``) send prepared page
calls; this module says which call comes next and what the pages add up to:

- ``X-Pages`` operations: page 1, then pages 2..N (at most ``ESI_PAGE_CONCURRENCY`` pages hold a
  slot of :class:`PageSlots`, taken in page order, from the cache read to the end of the HTTP
  exchange; as many more may be decoded and stored meanwhile, so a page's cache write does not
  hold back the next request).
  All pages of one snapshot share ``Last-Modified`` and ``X-Pages`` (:func:`check_page`); if a
  page disagrees, the snapshot changed mid-crawl: a joined crawl restarts (revalidating every
  page) at most :data:`MAX_RESTARTS` times, a streamed one raises ``EsiSnapshotChanged``.
- cursor operations (``before``/``after``): walked until a page comes back empty (:class:`CursorWalk`).
- ``from_id``/``last_mail_id`` operations: walked backwards from the newest record (:class:`FromIdWalk`).

At most ``ESI_MAX_PAGES`` pages per call: a larger ``X-Pages`` raises ``EsiResponseTooLarge``
before page 2 is asked for; a walk stops after that many steps.

:data:`page_progress` (a context variable, e.g. set by ``esi_fetch --all-pages``) is called with
the operation id and the page count after each ``X-Pages`` page arrives.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from esi.client._caps import cap, note_capped
from esi.client._prepared import PreparedCall
from esi.client._response import EsiResponse
from esi.client._spec import Operation
from esi.exceptions import EsiResponseTooLarge, EsiSnapshotChanged

__all__ = [
    "MAX_RESTARTS",
    "CrawlClosed",
    "CursorWalk",
    "FromIdWalk",
    "PageSlots",
    "RequestSlot",
    "check_page",
    "check_pages",
    "in_slot",
    "join_pages",
    "page_progress",
    "request_slot",
    "request_slots",
]

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3
_ID_FIELDS = {"from_id": "transaction_id", "last_mail_id": "mail_id"}

#: ``callback(operation_id, total_pages)`` after each page of an ``X-Pages`` crawl, or ``None``.
page_progress: ContextVar[Callable[[str, int], None] | None] = ContextVar("esi_page_progress", default=None)


class CrawlClosed(Exception):
    """Raised in a page thread waiting for a slot of a crawl that ended (nobody reads it)."""


class PageSlots:
    """A crawl's ``ESI_PAGE_CONCURRENCY`` slots, first taken in page order: page n+1's cache read
    and budget reservation come after page n's, whichever thread runs first."""

    def __init__(self, width: int, first: int) -> None:
        self._cond = threading.Condition()
        self._free = width
        self._turn = first
        self._closed = False

    def take(self, page: int | None) -> None:
        """A slot for the first take of ``page`` (in its turn), or for a retry (``None``: any turn)."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._free > 0 and page in (None, self._turn)))
            if self._closed:
                raise CrawlClosed
            self._free -= 1
            if page is not None:
                self._turn += 1
                self._cond.notify_all()  # the next page may take a slot still free

    def give_back(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def close(self) -> None:
        """The crawl ended (finished, failed, or its consumer stopped): wake every waiting thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class RequestSlot:
    """One page's claim on its crawl's :class:`PageSlots`: taken before the page's cache read and
    budget reservation, given back as soon as its HTTP exchange ends (a retry takes one again), so
    the page is decoded and stored while the next request is already out."""

    __slots__ = ("_held", "_page", "_slots")

    def __init__(self, slots: PageSlots, page: int) -> None:
        self._slots = slots
        self._page: int | None = page
        self._held = False

    def take(self) -> None:
        if not self._held:
            self._slots.take(self._page)
            self._page = None  # later takes are retries
            self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back()


#: The slot of the page a crawl's thread is fetching (None outside a crawl).
request_slots: ContextVar[RequestSlot | None] = ContextVar("esi_request_slot", default=None)


@contextmanager
def request_slot() -> Iterator[None]:
    """Around one HTTP exchange: the page's slot is held (taken if a retry gave it back), then
    given back; outside a crawl, nothing."""
    slot = request_slots.get()
    if slot is None:
        yield
        return
    slot.take()
    try:
        yield
    finally:
        slot.give_back()


def in_slot(
    slots: PageSlots, page: int, send: Callable[[PreparedCall], EsiResponse], call: PreparedCall
) -> EsiResponse:
    """``send(call)`` for page ``page`` in a crawl's thread: a slot from before the cache read until
    the end of the exchange (or the end of ``send``: a cache hit, an error). Run in a copied context."""
    slot = RequestSlot(slots, page)
    request_slots.set(slot)
    slot.take()
    try:
        return send(call)
    finally:
        slot.give_back()


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
        page=None,
        from_cache=all(r.from_cache for r in responses),
        not_modified=all(r.not_modified for r in responses),
    )


def _walked(like: EsiResponse, data: Any, steps: int, *, etag: str | None) -> EsiResponse:
    """The result of a cursor/from_id walk: ``like``'s status and caching facts, all records.

    Never ``from_cache``/``not_modified``: the walk as a whole was assembled now.
    """
    return replace(like, data=data, etag=etag, pages=steps, from_cache=False, not_modified=False)


def check_page(first: EsiResponse, r: EsiResponse, n: int) -> None:
    """Raise :class:`~esi.exceptions.EsiSnapshotChanged` unless page ``n`` belongs to ``first``'s snapshot."""
    if r.pages != first.pages or r.last_modified != first.last_modified:
        raise EsiSnapshotChanged(
            f"{r.operation}: page {n} has X-Pages {r.pages} / Last-Modified {r.last_modified} instead of "
            f"{first.pages} / {first.last_modified}: ESI published a new snapshot mid-crawl."
        )


def join_pages(responses: list[EsiResponse]) -> EsiResponse:
    """One response with the records of ``responses`` in page order."""
    return _join(sorted(responses, key=lambda r: r.page or 1))


def check_pages(op: Operation, total: int) -> None:
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


class CursorWalk:
    """A cursor operation walked backwards with ``before`` (default) or forwards from ``after``.

    The result holds the records of every step (duplicates dropped) and ``cursor``: the
    ``before`` to continue the history and the ``after`` to poll for new or changed records later.
    """

    def __init__(self, first: PreparedCall) -> None:
        self.first = first
        self._values = dict(first.values)
        self._direction = "after" if self._values.get("after") is not None else "before"
        self._params = dict(self._values)
        self._records: list[Any] = []
        self._seen: set[str] = set()
        self._key: str | None = None
        self._first_cursor: dict[str, Any] | None = None
        self._cursor: dict[str, Any] = {}
        self._last: EsiResponse | None = None
        self._steps = 0

    def step(self, call: PreparedCall, last: EsiResponse) -> PreparedCall | None:
        """Take the answer to ``call``; the next call, or None when the walk is over."""
        self._steps += 1
        self._last = last
        body = last.data if isinstance(last.data, dict) else {}
        self._key = self._key or _records_key(body)
        page = body.get(self._key, []) if self._key else []
        cursor = self._cursor = body.get("cursor") or {}
        if self._first_cursor is None:
            self._first_cursor = cursor
        for rec in page:
            marker = json.dumps(rec, sort_keys=True, default=str)
            if marker not in self._seen:
                self._seen.add(marker)
                self._records.append(rec)
        direction = self._direction
        nxt = cursor.get(direction)
        if not page or not nxt or nxt == self._params.get(direction) or _max_steps(call.operation, self._steps):
            return None
        self._params = {k: v for k, v in self._values.items() if k not in ("before", "after")}
        self._params[direction] = nxt
        return call.with_values(self._params)

    def result(self) -> EsiResponse:
        assert self._last is not None and self._first_cursor is not None
        first, cursor = self._first_cursor, self._cursor
        if self._direction == "before":
            final = {"before": cursor.get("before"), "after": first.get("after")}
        else:
            final = {"before": first.get("before"), "after": cursor.get("after") or self._params.get("after")}
        return _walked(self._last, {self._key or "records": self._records, "cursor": final}, self._steps, etag=None)


class FromIdWalk:
    """A ``from_id``/``last_mail_id`` operation walked backwards until no older records come."""

    def __init__(self, first: PreparedCall) -> None:
        self.first = first
        op = first.operation
        self._param = "from_id" if "from_id" in op.parameters else "last_mail_id"
        self._id_field = _ID_FIELDS[self._param]
        self._values = dict(first.values)
        self._records: list[Any] = []
        self._seen: set[Any] = set()
        self._first: EsiResponse | None = None
        self._steps = 0

    def step(self, call: PreparedCall, r: EsiResponse) -> PreparedCall | None:
        """Take the answer to ``call``; the next call, or None when the walk is over."""
        self._steps += 1
        self._first = self._first or r
        id_field, param = self._id_field, self._param
        page = [rec for rec in (r.data or []) if isinstance(rec, dict)]
        new = [rec for rec in page if rec.get(id_field) not in self._seen]
        if not new:
            return None
        bound = call.values.get(param)
        if bound is not None and any(isinstance(rec.get(id_field), int) and rec[id_field] > bound for rec in page):
            # The server ignored the bound (records newer than it came back): stop rather than walk forever.
            logger.warning("ESI %s ignored %s=%s; stopping the walk", call.operation.id, param, bound)
            return None
        for rec in new:
            self._seen.add(rec.get(id_field))
            self._records.append(rec)
        ids = [rec[id_field] for rec in new if isinstance(rec.get(id_field), int)]
        if not ids or _max_steps(call.operation, self._steps):
            return None
        return call.with_values({**self._values, param: min(ids)})

    def result(self) -> EsiResponse:
        assert self._first is not None
        return _walked(self._first, self._records, self._steps, etag=self._first.etag)

"""One fetch as plain functions: what ``fetch_endpoint`` does, testable without a worker.

:func:`prepare` makes the call once: the client resolves the operation in the spec and
validates the parameters (no I/O), then the token is picked (:func:`esi_tasks.tokens.resolve_token`)
and the client's :class:`~esi.client.PreparedCall` carries it, with the cache key that also
identifies the fetch for de-duplication. :func:`run` sends it through the shared client (which
answers a remembered 403/404 from its cache at once). :func:`fetch` is both.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from celery import current_app

from esi.client import EsiClient, EsiResponse, Operation, PreparedCall, get_client
from esi.client._cache import cache_key
from esi_tasks import changes
from esi_tasks.signals import endpoint_fetched, page_fetched
from esi_tasks.tokens import resolve_token, serve_pooled

if TYPE_CHECKING:
    from esi.models import Token

__all__ = ["FetchOutcome", "PreparedFetch", "fetch", "prepare", "response_meta", "run", "stream"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedFetch:
    """A fetch made ready once: the client of its date, the prepared call, the stored token used."""

    client: EsiClient
    call: PreparedCall
    params: dict[str, Any]  # as the caller gave them (what signals and the error memory see)
    token: Token | None = None

    @property
    def operation(self) -> Operation:
        return self.call.operation


@dataclass
class FetchOutcome:
    """The decoded data of one fetch and the facts about the answer (JSON-serialisable meta)."""

    operation: str
    params: dict[str, Any]
    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    token_id: int | None = None
    expires: dt.datetime | None = None
    #: Seconds the cache keeps this answer fresh from now (``Expires - Date``, as the cache counts
    #: them); None when it was served from the cache. Keep-fresh waits this long, not until
    #: ``Expires``: ``Date`` is cut to the second, so the cached copy outlives ``Expires`` by up to 1 s.
    fresh_for: float | None = None
    #: The fetch this came from, and the resource the change feed compares it with (the cache key;
    #: joined pages are their own resource, a streamed crawl another; None: not compared).
    prepared: PreparedFetch | None = field(default=None, repr=False, compare=False)
    resource: str | None = None
    #: A streamed crawl's hash of its pages' data (its ``data`` is only a summary), for the change feed.
    digest: str | None = None

    def announce(self, sender: type, task_id: str | None) -> None:
        """Send ``endpoint_fetched`` for this outcome, then ``endpoint_changed`` if its data changed
        (see :mod:`esi_tasks.signals` and :mod:`esi_tasks.changes`)."""
        endpoint_fetched.send(
            sender=sender,
            operation=self.operation,
            params=self.params,
            data=self.data,
            meta=self.meta,
            token_id=self.token_id,
            task_id=task_id,
        )
        changes.track(self, sender, task_id)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _fresh_for(response: Any) -> float | None:
    """``Expires - Date`` of an answer ESI just sent (a 200 or a 304); None from the cache or without them."""
    if response.from_cache or response.expires is None:
        return None
    try:
        date = parsedate_to_datetime(response.headers.get("date") or "")
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, float((response.expires - date).total_seconds()))


def response_meta(response: Any) -> dict[str, Any]:
    return {
        "status": response.status,
        "etag": response.etag,
        "expires": _iso(response.expires),
        "last_modified": _iso(response.last_modified),
        "pages": response.pages,
        "from_cache": response.from_cache,
        "not_modified": response.not_modified,
    }


def prepare(
    operation: str,
    *,
    token_id: int | None = None,
    language: str | None = None,
    force_refresh: bool = False,
    params: Mapping[str, Any] | None = None,
    compatibility_date: str | None = None,
) -> PreparedFetch:
    """Check the fetch (UnknownOperation, InvalidParameter before any token work), pick its token
    (NoTokenError...) and prepare the call through the client of ``compatibility_date`` (the default
    client without one; a ``compatibility_date`` among ``params`` counts, as ESI's own query
    parameter would)."""
    params = dict(params or {})
    compatibility_date = params.pop("compatibility_date", None) or compatibility_date
    client = get_client(compatibility_date)
    picked: list[Token | None] = []

    def pick(op: Operation, values: Mapping[str, Any]) -> Token | None:
        token = resolve_token(op, values, token_id)
        picked.append(token)
        return token

    call = client.prepare(operation, token=pick, language=language, force_refresh=force_refresh, **params)
    return PreparedFetch(client, call, params, picked[0] if picked else None)


def _outcome(
    fetch: PreparedFetch,
    data: Any,
    meta: dict[str, Any],
    expires: dt.datetime | None,
    fresh_for: float | None = None,
    resource: str | None = None,
    digest: str | None = None,
) -> FetchOutcome:
    """The one place a :class:`FetchOutcome` is made (a joined answer or a streamed crawl's summary)."""
    token = fetch.token
    return FetchOutcome(
        operation=fetch.operation.id,
        params=fetch.params,
        data=data,
        meta=meta,
        token_id=token.pk if token is not None else None,
        expires=expires,
        fresh_for=fresh_for,
        prepared=fetch,
        resource=resource,
        digest=digest,
    )


def run(
    fetch: PreparedFetch, *, all_pages: bool = False, on_page: str | None = None, sender: type | None = None
) -> FetchOutcome:
    """Send a prepared fetch (every page, joined, with ``all_pages``; streamed to the task named
    ``on_page`` with it, see :func:`stream`); raises ``esi.exceptions`` errors (a remembered 403/404
    comes from the client's cache at once, see :mod:`esi_tasks.errors_memory`). A corporation's
    pooled token refused with a 403 hands over to the next member (:func:`esi_tasks.tokens.serve_pooled`)."""
    return serve_pooled(fetch, lambda f: _run(f, all_pages=all_pages, on_page=on_page, sender=sender))


def _resource(call: PreparedCall) -> str:
    """What the change feed compares an answer with: the cache key, except that a corporation's data
    is the same whichever member's token read it (a token pool takes turns): keyed without the character."""
    values = call.values
    if call.operation.scopes and "corporation_id" in values and "character_id" not in values:
        return cache_key(call.operation.id, values, call.language or "en", call.date, None)
    return call.key


def _run(fetch: PreparedFetch, *, all_pages: bool, on_page: str | None, sender: type | None) -> FetchOutcome:
    if on_page:
        return stream(fetch, on_page, sender=sender)
    call, client = fetch.call, fetch.client
    joined = bool(all_pages and call.operation.paginated)
    response = client.send_all(call) if joined else client.send(call)
    resource = _resource(call) + (":all" if joined else "")
    return _outcome(fetch, response.data, response_meta(response), response.expires, _fresh_for(response), resource)


def stream(fetch: PreparedFetch, on_page: str | None = None, *, sender: type | None = None) -> FetchOutcome:
    """Hand every page of a prepared fetch to the task named ``on_page`` and to ``page_fetched``
    receivers as it arrives, holding no more than the crawl's window of pages; the outcome's data
    is a summary: ``{"operation", "pages", "rows", "etag", "last_modified", "expires"}``.

    Each ``on_page`` task gets ``(data,)`` and the keywords ``operation``, ``params``, ``page``,
    ``pages``, ``etag``, ``last_modified``, ``expires``, ``token_id``. A page of another snapshot
    ends the crawl with ``EsiSnapshotChanged`` (the task retries it from page 1: a callback may
    see a page twice, ``last_modified`` tells the snapshots apart).

    While an ``endpoint_changed`` receiver listens, each page's data is hashed as it passes (one
    small hash per page is kept), so the crawl as a whole is compared with the last streamed crawl
    of the same resource: ``endpoint_changed`` then carries the summary and never a diff (the
    pages are never together; see docs/changes.md).
    """
    call, token, client = fetch.call, fetch.token, fetch.client
    token_id = token.pk if token is not None else None
    first: EsiResponse | None = None
    pages = rows = 0
    expires: list[dt.datetime] = []
    crawl = changes.CrawlDigest() if changes.listening(sender) else None
    for page in client.stream(call):
        first = first or page
        pages += 1
        if crawl is not None:
            crawl.add(page.page or pages, page.data)
        rows += len(page.data) if isinstance(page.data, list) else int(page.data is not None)
        if page.expires is not None:
            expires.append(page.expires)
        facts = {
            "operation": call.operation.id,
            "params": fetch.params,
            "page": page.page or 1,
            "pages": page.pages or 1,
            "etag": page.etag,
            "last_modified": _iso(page.last_modified),
            "expires": _iso(page.expires),
            "token_id": token_id,
        }
        if on_page:
            current_app.send_task(on_page, args=(page.data,), kwargs=facts)
        page_fetched.send(sender=sender or FetchOutcome, data=page.data, **facts)
    assert first is not None
    soonest = min(expires) if expires else None
    summary = {
        "operation": call.operation.id,
        "pages": pages,
        "rows": rows,
        "etag": first.etag,
        "last_modified": _iso(first.last_modified),
        "expires": _iso(soonest),
    }
    if crawl is None:
        return _outcome(fetch, summary, {**response_meta(first), "pages": pages}, soonest)
    resource, digest = _resource(call) + ":stream", crawl.hexdigest()
    return _outcome(fetch, summary, {**response_meta(first), "pages": pages}, soonest, None, resource, digest)


def fetch(
    operation: str,
    *,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    force_refresh: bool = False,
    params: Mapping[str, Any] | None = None,
    compatibility_date: str | None = None,
    on_page: str | None = None,
    sender: type | None = None,
) -> FetchOutcome:
    """:func:`prepare` then :func:`run`: fetch ``operation`` once; raises ``esi.exceptions`` errors."""
    prepared = prepare(
        operation,
        token_id=token_id,
        language=language,
        force_refresh=force_refresh,
        params=params,
        compatibility_date=compatibility_date,
    )
    return run(prepared, all_pages=all_pages, on_page=on_page, sender=sender)

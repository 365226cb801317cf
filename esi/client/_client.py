"""The ESI client: prepare a call (spec, validation, token, cache key), then send it.

One :class:`EsiClient` per compatibility date per process (:func:`get_client`); each holds the
view of its date and sends that date on every request. All of them share one pooled HTTP
connection (:class:`~esi.client._transport.HttpPool`), the response cache and the :class:`Limiter`.

``call()`` is ``prepare()`` then ``send()`` (one request: cache, limits, retries, store) or a
crawl: ``iter_pages()`` streams the pages of a paged operation as they arrive, and
``call(all_pages=True)`` joins them. Every page is the same prepared call with another
``page`` (or cursor) value: nothing is looked up or validated again.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx
import redis as redis_lib
from django.views.decorators.debug import sensitive_variables

from esi._dates import check_date, default_date
from esi.app_settings import esi_settings
from esi.client import limits as _limits
from esi.client._accessors import Tag
from esi.client._cache import NEGATIVE_STATUSES, CacheEntry, ResponseCache
from esi.client._config import config, forget, settings_generation
from esi.client._operations import token_context, validate_params
from esi.client._pagination import (
    MAX_RESTARTS,
    CursorWalk,
    FromIdWalk,
    check_page,
    check_pages,
    in_slot,
    join_pages,
    page_progress,
    request_slot,
)
from esi.client._prepared import PreparedCall, build
from esi.client._response import EsiResponse
from esi.client._retry import RetryPolicy, is_retry_safe
from esi.client._spec import Operation, SpecIndex
from esi.client._transport import HttpAnswer, HttpPool, shared_pool
from esi.client._views import get_spec, get_view, spec_from_file
from esi.client.limits import Pending, Reservation, RoundTrip, pause_seconds
from esi.client.limits._rules import max_pause
from esi.dashboard import counters
from esi.exceptions import (
    EsiError,
    EsiErrorLimited,
    EsiNotFound,
    EsiRateLimited,
    EsiResponseError,
    EsiSnapshotChanged,
    EsiTransportError,
    InvalidParameter,
)
from esi.redis_pool import REDIS_ERRORS, get_redis

if TYPE_CHECKING:  # typed client.<Tag>.<Operation> accessors (generated stubs; docs/typed-stubs.md)
    from esi.client._typed import TypedTags as _TypedTags
else:
    _TypedTags = object

__all__ = ["EsiClient", "get_client", "reset_client"]

logger = logging.getLogger("esi.client")

#: What ``prepare(token=...)`` takes: a Token, an access-token string, None, or a function of the
#: operation and the validated values that picks one (the task layer's stored-token choice).
TokenArg = Any


def _pause(value: str | None) -> float:
    """A pause ESI asks for, capped at ``ESI_MAX_PAUSE``; a minute (capped too) when it names none."""
    wait = pause_seconds(value)
    return min(60.0, max_pause()) if wait is None else wait


class EsiClient(_TypedTags):
    """Calls ESI operations by ``operationId``; see ``docs/calling-esi.md``.

    ``compatibility_date`` pins the client to that date's view (without one it follows
    ``ESI_COMPATIBILITY_DATE`` and ``ESI_SPEC_FILE``); ``spec_file`` reads the view from a file.
    The other arguments are for tests and special setups; ``get_client()`` gives the shared ones.
    ``transport`` is an ``httpx.BaseTransport`` (e.g. ``httpx.MockTransport``) or an ``HttpPool``.
    """

    def __init__(
        self,
        *,
        compatibility_date: str | None = None,
        spec_file: str | None = None,
        spec: SpecIndex | None = None,
        transport: httpx.BaseTransport | HttpPool | None = None,
        limiter: _limits.Limiter | None = None,
        retry: RetryPolicy | None = None,
        redis_factory: Callable[[], redis_lib.Redis] | None = None,
        clock: Callable[[], float] = time.time,
        user_agent: str | None = None,
        remember_errors: bool = True,
    ) -> None:
        self._date = check_date(compatibility_date) if compatibility_date else None
        self.user_agent = user_agent  # None: the project's (ESI_APP_NAME...), sent by the pool
        self._spec_file = str(spec_file) if spec_file else None
        self._spec = spec
        self.transport = transport if isinstance(transport, HttpPool) else HttpPool(transport)
        self._limiter = limiter
        self.retry = retry or RetryPolicy()
        self.clock = clock
        #: whether a 403/404 is kept as a negative cache entry (django-esi 10's client kept none)
        self.remember_errors = remember_errors
        self.cache = ResponseCache(redis_factory or get_redis, clock)
        self._view: tuple[int, SpecIndex, str] | None = None

    def __repr__(self) -> str:
        return f"<EsiClient {esi_settings.ESI_API_URL} date={self.compatibility_date} view={self.spec.date}>"

    @property
    def spec(self) -> SpecIndex:
        """The view this client resolves operations against."""
        return self._current_view()[0]

    @property
    def compatibility_date(self) -> str:
        """The ``X-Compatibility-Date`` every request of this client carries."""
        return self._current_view()[1]

    def refresh(self) -> None:
        """Re-read every ``ESI_*`` setting on the next call (after changing one by assignment;
        ``override_settings`` needs no help)."""
        self._view = None
        forget()
        self.transport.refresh()

    def _current_view(self) -> tuple[SpecIndex, str]:
        """View and date, looked up again only after an ``ESI_*`` setting changed or a fork."""
        gen = settings_generation()
        view = self._view
        if view is None or view[0] != gen:
            if self._spec is not None:
                spec = self._spec
            elif self._spec_file:
                spec = spec_from_file(self._spec_file)
            elif self._date:
                spec = get_view(self._date)
            else:
                spec = get_spec()
            view = self._view = (gen, spec, self._date or default_date())
        return view[1], view[2]

    @property
    def limits(self) -> _limits.Limiter:
        """The shared rate-limit / error-limit guard."""
        if self._limiter is None:
            self._limiter = _limits.get_limiter()
        return self._limiter

    # --- the public calls --------------------------------------------------------------------

    @sensitive_variables()  # error reports show no local below (Authorization, token strings)
    def prepare(
        self,
        operation: str,
        *,
        token: TokenArg = None,
        language: str | None = None,
        force_refresh: bool = False,
        **params: Any,
    ) -> PreparedCall:
        """Check a call without any I/O and make it ready to :meth:`send`.

        Resolves ``operation`` (operationId or snake_case alias) in this client's view, validates
        ``params`` (UnknownOperation, InvalidParameter), checks ``token`` against the operation's
        scopes (TokenRequired, MissingScope) and builds the cache key. ``token`` may also be a
        function ``(operation, values) -> token`` that picks one once the call is known to be valid.
        """
        spec, date = self._current_view()
        op = spec.get(operation)
        values = validate_params(op, params)
        if language is not None and language not in spec.languages:
            raise InvalidParameter(
                f"language must be one of {', '.join(spec.languages)}; got {language!r}.",
                operation=op.id,
                parameter="language",
            )
        if callable(token):
            token = token(op, values)
        return build(
            op,
            values,
            token_context(op, token),
            language=language,
            date=date,
            cache_enabled=config().cache_response,
            force_refresh=force_refresh,
            user_agent=self.user_agent,
        )

    @sensitive_variables()
    def call(
        self,
        operation: str,
        *,
        token: TokenArg = None,
        all_pages: bool = False,
        language: str | None = None,
        force_refresh: bool = False,
        **params: Any,
    ) -> EsiResponse:
        """Call one operation; with ``all_pages`` every page (X-Pages, cursor or from_id), joined."""
        prepared = self.prepare(operation, token=token, language=language, force_refresh=force_refresh, **params)
        if all_pages and prepared.operation.paginated:
            return self.send_all(prepared)
        return self.send(prepared)

    @sensitive_variables()
    def iter_pages(
        self,
        operation: str,
        *,
        token: TokenArg = None,
        language: str | None = None,
        force_refresh: bool = False,
        **params: Any,
    ) -> Iterator[EsiResponse]:
        """Every page of ``operation``, each as soon as it arrives (``r.page`` says which).

        ``X-Pages`` operations: page 1 first, then the others in the order they arrive, at most
        ``ESI_PAGE_CONCURRENCY`` requests in flight and twice as many pages held (decoded and
        stored while the next requests are out); a page of another snapshot raises
        ``EsiSnapshotChanged`` (start again). Cursor and from_id operations: one walk step after
        the other. Other operations: their one response. The call is checked before this returns.
        """
        prepared = self.prepare(operation, token=token, language=language, force_refresh=force_refresh, **params)
        return self.stream(prepared)

    def stream(self, prepared: PreparedCall) -> Iterator[EsiResponse]:
        """:meth:`iter_pages` of an already prepared call."""
        kind = prepared.operation.paginated
        if kind == "pages":
            return self._x_pages(prepared)
        if kind is None:
            return iter((self.send(prepared),))
        return self._walk(prepared, yield_steps=True)

    def send_all(self, prepared: PreparedCall) -> EsiResponse:
        """Every page of a prepared call, joined (restarting when the snapshot changes mid-crawl)."""
        op = prepared.operation
        if op.paginated != "pages":
            return next(self._walk(prepared, yield_steps=False))  # a walk yields only its result
        for attempt in range(MAX_RESTARTS + 1):
            try:
                return join_pages(list(self._x_pages(prepared if attempt == 0 else prepared.refreshed())))
            except EsiSnapshotChanged as exc:
                logger.info("ESI %s: %s; restarting", op.id, exc)
        raise EsiSnapshotChanged(
            f"{op.id}: the pages kept changing while they were fetched ({MAX_RESTARTS} restarts); try again later."
        )

    def __getattr__(self, name: str) -> Tag:
        if name.startswith("_"):
            raise AttributeError(name)
        tags = self.spec.tags
        wanted = name.replace("_", "").lower()
        for tag in tags:
            if tag.replace(" ", "").lower() == wanted:
                return Tag(self, tag, tags[tag])
        raise AttributeError(f"ESI has no tag {name!r}; tags are: {', '.join(t.replace(' ', '') for t in tags)}")

    # --- crawls: loops over prepared page calls ---------------------------------------------

    def _x_pages(self, prepared: PreparedCall) -> Iterator[EsiResponse]:
        """Page 1, then pages 2..N as they arrive (a sliding window of ``ESI_PAGE_CONCURRENCY``)."""
        op = prepared.operation
        call = prepared.resolved()  # the access token is fetched once, before the threads need it
        report = page_progress.get()
        first = replace(self.send(call.page(1)), page=1)
        total = first.pages or 1
        if report is not None:
            report(op.id, total)
        yield first
        if total <= 1:
            return
        check_pages(op, total)
        width = min(config().page_concurrency, total - 1)
        held = min(2 * width, total - 1)  # pages in a slot (cache read, request) <= width; the others store
        slots = threading.BoundedSemaphore(width)
        running: dict[Future[EsiResponse], int] = {}
        following = 2
        with ThreadPoolExecutor(max_workers=held, thread_name_prefix="esi-page") as pool:
            try:
                while following <= total or running:
                    while following <= total and len(running) < held:
                        context = contextvars.copy_context()  # the caller's wait limit applies in the threads
                        nxt = call.page(following)
                        running[pool.submit(context.run, in_slot, slots, self.send, nxt)] = following
                        following += 1
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in sorted(done, key=running.__getitem__):
                        n = running.pop(future)
                        try:
                            page = future.result()
                        except EsiNotFound as exc:  # the snapshot shrank under us
                            raise EsiSnapshotChanged(f"{op.id}: page {n} of {total} is gone") from exc
                        check_page(first, page, n)
                        if report is not None:
                            report(op.id, total)
                        yield replace(page, page=n)
            finally:
                for future in running:
                    future.cancel()

    def _walk(self, prepared: PreparedCall, *, yield_steps: bool) -> Iterator[EsiResponse]:
        """A cursor or from_id walk: each step's answer (``yield_steps``), else only the joined result."""
        walk = CursorWalk(prepared) if prepared.operation.paginated == "cursor" else FromIdWalk(prepared)
        step: PreparedCall | None = prepared.resolved()
        while step is not None:
            answer = self.send(step)
            if yield_steps:
                yield answer
            step = walk.step(step, answer)
        if not yield_steps:
            yield walk.result()

    # --- one request -----------------------------------------------------------------------

    def send(self, prepared: PreparedCall) -> EsiResponse:
        """One request of a prepared call: the cache, the limits, retries, and the cache write
        (counted for the dashboard)."""
        started = time.perf_counter()
        try:
            response = self._send(prepared)
        except EsiError as exc:
            counters.record(prepared.operation.id, prepared.token.character_id, started, error=exc)
            raise
        counters.record(prepared.operation.id, prepared.token.character_id, started, response=response)
        return response

    @sensitive_variables()
    def _send(self, prepared: PreparedCall) -> EsiResponse:
        op = prepared.operation
        key = prepared.key if prepared.cacheable else None
        force = prepared.force_refresh
        entry: CacheEntry | None = None
        limiter = self.limits
        identity = prepared.identity
        pending: Pending | None = None  # an acquire sent with the cache read, taken by the first attempt
        if key is not None:
            if not force and self.cache.likely_fresh(key, self.clock()):
                entry = self.cache.get(key)  # the usual hit: one round trip
            else:
                entry, pending = self._read_and_acquire(key, limiter, op, identity)
            if entry is not None and entry.is_error and not self.remember_errors:
                entry = None  # a client that keeps no errors asks ESI again
            if entry is not None and not force and entry.is_fresh(self.clock()):
                if pending is not None:
                    pending.cancel()
                if logger.isEnabledFor(logging.INFO):
                    logger.info("ESI %s %s -> %s (cache hit)", op.method.upper(), prepared.path, entry.status)
                if entry.is_error:  # a remembered 403/404 (a negative entry): ESI is not asked again
                    raise entry.error(op.id, self.clock())
                return self._from_entry(op, entry, status=200, from_cache=True)
            if entry is not None and entry.is_error:
                entry = None  # a lapsed (or overridden) remembered error: nothing to revalidate

        path = prepared.path
        url = config().api_url + path
        query = prepared.query
        headers = dict(prepared.headers)
        if entry is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        if op.scopes:
            headers["Authorization"] = f"Bearer {prepared.token.access_token()}"
        body = prepared.body
        answered: list[Reservation] = []  # 2xx/3xx/403/404: settled with the cache write, in one round trip

        def attempt() -> HttpAnswer:
            nonlocal pending
            if pending is not None:
                reservation, pending = pending.take(), None
            else:
                reservation = limiter.acquire(op.rate_limit, identity)
            try:
                with request_slot():  # a crawl's in-flight limit covers the exchange only
                    response = self.transport.send(op.method, url, headers=headers, params=query, json_body=body)
            except Exception:
                limiter.settle(reservation, 0, {})  # 0: no response at all (timeout, refused, bad URL...)
                raise
            if 200 <= response.status_code < 400 or response.status_code in NEGATIVE_STATUSES:
                answered.append(reservation)
            else:
                limiter.settle(reservation, response.status_code, response.headers)
            return response

        response = self.retry.run(attempt, retry=is_retry_safe(op), label=f"{op.method.upper()} {path}")
        settle = answered[0] if answered else None
        status = response.status_code
        rh = response.headers  # lower-case names
        if logger.isEnabledFor(logging.INFO):
            cache_state = "revalidated" if status == 304 else ("miss" if key is not None else "no-cache")
            logger.info(
                "ESI %s %s -> %s (cache %s, %s)",
                op.method.upper(),
                path,
                status,
                cache_state,
                self._budget(rh),
            )
        now = self.clock()
        if status == 304 and entry is not None:
            entry = entry.revalidated(rh, now)
            self._record(limiter, settle, response, key, entry)
            return self._from_entry(op, entry, status=304, not_modified=True)
        if status >= 400 or status == 304:
            negative = (
                CacheEntry.from_error(status, response.content, rh, now)
                if key is not None and self.remember_errors
                else None
            )
            self._record(limiter, settle, response, key if negative is not None else None, negative)
            raise self._error(op, response)
        raw = response.content
        try:
            data = json.loads(raw) if raw else None
        except ValueError as exc:
            self._record(limiter, settle, response, None, None)
            raise EsiTransportError(
                f"ESI answered {status} to {op.id} with a body that is not JSON ({len(raw)} bytes)."
            ) from exc
        fresh = CacheEntry.from_response(raw, rh, now)
        stored = key if key is not None and (fresh.etag or fresh.fresh_until > now) else None
        self._record(limiter, settle, response, stored, fresh)
        return EsiResponse(
            data=data,
            status=status,
            operation=op.id,
            headers=rh,
            etag=fresh.etag,
            expires=fresh.expires_dt(),
            last_modified=fresh.last_modified_dt(),
            pages=fresh.pages,
        )

    # --- Redis round trips: the cache read with the acquire, the settle with the cache write ----

    def _read_and_acquire(
        self, key: str, limiter: _limits.Limiter, op: Operation, identity: str
    ) -> tuple[CacheEntry | None, Pending | None]:
        """Read ``key`` and reserve budget in one round trip (a miss is likely, or a refresh is forced).

        A hit cancels the reservation (one more round trip, only for entries this process has not
        seen fresh before). If Redis fails, the read is a miss and the first attempt acquires alone.
        """
        try:
            trip = RoundTrip(self.cache.redis())  # a cluster client may fail to build
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
            return None, None
        index = trip.add("get", key)
        pending = limiter.acquire_in(trip, op.rate_limit, identity)
        try:
            trip.run()
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
            return None, None
        return self.cache.entry_of(key, trip.result(index)), pending

    def _record(
        self,
        limiter: _limits.Limiter,
        reservation: Reservation | None,
        response: HttpAnswer,
        key: str | None,
        entry: CacheEntry | None,
    ) -> None:
        """Settle the answered request and store its entry in one round trip (either may be absent)."""
        if reservation is None and (key is None or entry is None):
            return
        try:
            trip = RoundTrip(self.cache.redis())  # a cluster client may fail to build
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache write failed (and the shared limits did not record the answer): %s", exc)
            return
        if reservation is not None:
            limiter.settle_in(trip, reservation, response.status_code, response.headers)
        if key is not None and entry is not None:
            self.cache.set_in(trip, key, entry)
        try:
            trip.run()
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache write failed (and the shared limits did not record the answer): %s", exc)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _budget(headers: Mapping[str, str]) -> str:
        if "x-esi-error-limit-remain" in headers:
            return f"errors left {headers['x-esi-error-limit-remain']}"
        if "x-ratelimit-remaining" in headers:
            return f"{headers.get('x-ratelimit-group', 'group')} tokens left {headers['x-ratelimit-remaining']}"
        return "budget unknown"

    @staticmethod
    def _from_entry(
        op: Operation, entry: CacheEntry, *, status: int, from_cache: bool = False, not_modified: bool = False
    ) -> EsiResponse:
        return EsiResponse(
            data=entry.data(),
            status=status,
            operation=op.id,
            headers=entry.headers,
            etag=entry.etag,
            expires=entry.expires_dt(),
            last_modified=entry.last_modified_dt(),
            pages=entry.pages,
            from_cache=from_cache,
            not_modified=not_modified,
        )

    @staticmethod
    def _error(op: Operation, response: HttpAnswer) -> Exception:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        headers = response.headers
        if status == 429:
            group = headers.get("x-ratelimit-group") or (op.rate_limit.name if op.rate_limit else "unknown")
            return EsiRateLimited(group, _pause(headers.get("retry-after")))
        if status == 420:
            wait = _pause(headers.get("retry-after") or headers.get("x-esi-error-limit-reset"))
            return EsiErrorLimited(
                wait, f"ESI's error limit is exhausted (420 on {op.id}); nothing should be sent for {wait:.0f} s."
            )
        return EsiResponseError.for_status(status)(status, body, operation=op.id, headers=dict(headers))


_lock = threading.Lock()
_clients: dict[tuple[str | None, str | None, str | None, bool, bool], EsiClient] = {}


def get_client(
    compatibility_date: str | dt.date | None = None,
    *,
    spec_file: str | None = None,
    user_agent: str | None = None,
    retry_server_errors: bool = True,
    remember_errors: bool = True,
) -> EsiClient:
    """The process's client for ``compatibility_date`` (``'YYYY-MM-DD'`` or a date), one per
    (date, ``spec_file``, ``user_agent``); without a date, the default client, which follows
    ``ESI_COMPATIBILITY_DATE``/``ESI_SPEC_FILE``. All share one httpx pool (rebuilt after fork)
    and each view is loaded once. ``user_agent`` replaces the project's User-Agent (built from
    ``ESI_APP_NAME``...) for this client's requests, as ``ESIClientProvider``'s ``ua_*`` do.
    ``retry_server_errors=False`` retries only timeouts and broken connections, never a 5xx
    answer (django-esi 10's behaviour, which ``ESIClientProvider`` keeps).
    ``remember_errors=False`` keeps no 403/404 as a negative cache entry (nor answers from one):
    every identical call asks ESI again, as django-esi 10 did (``ESIClientProvider`` keeps that).

    A malformed date, one before 2020-01-01 or one in the future raises InvalidParameter naming
    the valid dates.
    """
    date = None if compatibility_date is None else check_date(compatibility_date)
    key = (date, str(spec_file) if spec_file else None, user_agent or None, retry_server_errors, remember_errors)
    client = _clients.get(key)
    if client is None:
        pool = shared_pool()
        with _lock:
            client = _clients.get(key)
            if client is None:
                retry = RetryPolicy() if retry_server_errors else RetryPolicy(statuses=frozenset())
                client = _clients[key] = EsiClient(
                    compatibility_date=date,
                    spec_file=key[1],
                    transport=pool,
                    user_agent=key[2],
                    retry=retry,
                    remember_errors=remember_errors,
                )
    return client


def reset_client() -> None:
    """Close and forget the shared clients and the pool (tests; after changing ESI_SPEC_FILE)."""
    with _lock:
        shared_pool().close()
        for client in _clients.values():
            client.transport.close()
        _clients.clear()

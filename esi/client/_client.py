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

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import redis as redis_lib
from django.views.decorators.debug import sensitive_variables

from esi._dates import check_date, default_date
from esi.app_settings import esi_settings
from esi.client import limits as _limits
from esi.client._accessors import Tag
from esi.client._cache import ResponseCache
from esi.client._config import config, forget, settings_generation
from esi.client._crawl import walk, x_pages
from esi.client._exchange import send_once
from esi.client._operations import token_context, validate_params
from esi.client._pagination import MAX_RESTARTS, join_pages
from esi.client._prepared import PreparedCall, build
from esi.client._response import EsiResponse
from esi.client._retry import RetryPolicy
from esi.client._spec import SpecIndex
from esi.client._transport import HttpPool, shared_pool
from esi.client._views import get_spec, get_view, spec_from_file
from esi.dashboard import counters
from esi.exceptions import EsiError, EsiSnapshotChanged, InvalidParameter
from esi.redis_pool import get_redis

if TYPE_CHECKING:  # typed client.<Tag>.<Operation> accessors (generated stubs; docs/typed-stubs.md)
    from esi.client._typed import TypedTags as _TypedTags
else:
    _TypedTags = object

__all__ = ["EsiClient", "get_client", "reset_client"]

logger = logging.getLogger("esi.client")

#: What ``prepare(token=...)`` takes: a Token, an access-token string, None, or a function of the
#: operation and the validated values that picks one (the task layer's stored-token choice).
TokenArg = Any


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
            return x_pages(self.send, prepared, config().page_concurrency)
        if kind is None:
            return iter((self.send(prepared),))
        return walk(self.send, prepared, yield_steps=True)

    def send_all(self, prepared: PreparedCall) -> EsiResponse:
        """Every page of a prepared call, joined (restarting when the snapshot changes mid-crawl)."""
        op = prepared.operation
        if op.paginated != "pages":
            return next(walk(self.send, prepared, yield_steps=False))  # a walk yields only its result
        for attempt in range(MAX_RESTARTS + 1):
            call = prepared if attempt == 0 else prepared.refreshed()
            try:
                return join_pages(list(x_pages(self.send, call, config().page_concurrency)))
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

    # --- one request -----------------------------------------------------------------------

    def send(self, prepared: PreparedCall) -> EsiResponse:
        """One request of a prepared call: the cache, the limits, retries, and the cache write
        (counted for the dashboard)."""
        started = time.perf_counter()
        try:
            response = send_once(self, prepared)
        except EsiError as exc:
            counters.record(prepared.operation.id, prepared.token.character_id, started, error=exc)
            raise
        counters.record(prepared.operation.id, prepared.token.character_id, started, response=response)
        return response


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

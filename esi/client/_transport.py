"""One pooled ``httpx.Client`` per process (:class:`HttpPool`), and the ONE place httpx errors become ours.

The ``httpx.Client`` is rebuilt after ``fork`` (Celery prefork workers inherit the parent's
sockets, which must not be shared) and when the pool/timeout settings change.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from esi.app_settings import esi_settings, settings_generation, user_agent
from esi.client._caps import cap, note_capped
from esi.client.limits._model import LowerCaseHeaders
from esi.exceptions import (
    EsiConfigurationError,
    EsiConnectionError,
    EsiError,
    EsiResponseError,
    EsiResponseTooLarge,
    EsiTimeout,
    EsiTransportError,
)

__all__ = [
    "HttpAnswer",
    "HttpPool",
    "compatibility_date",
    "map_exception",
    "settings_generation",
    "shared_pool",
    "user_agent",
]

logger = logging.getLogger(__name__)

# Most specific first: the first matching class decides (HTTPStatusError is handled before).
_MAPPING: tuple[tuple[type[BaseException], type[EsiError], str], ...] = (
    (httpx.TimeoutException, EsiTimeout, "ESI did not answer in time"),
    (httpx.UnsupportedProtocol, EsiConfigurationError, "ESI_API_URL has an unsupported scheme; use https://"),
    (httpx.InvalidURL, EsiConfigurationError, "ESI_API_URL or a path parameter makes an invalid URL"),
    (httpx.LocalProtocolError, EsiTransportError, "the request could not be sent as HTTP"),
    (httpx.NetworkError, EsiConnectionError, "the connection to ESI failed"),
    (httpx.RemoteProtocolError, EsiConnectionError, "ESI broke the HTTP protocol or closed the connection"),
    (httpx.ProxyError, EsiConnectionError, "the proxy to ESI failed"),
    (httpx.TransportError, EsiConnectionError, "the connection to ESI failed"),
    (httpx.DecodingError, EsiTransportError, "ESI's response body could not be decoded"),
    (httpx.TooManyRedirects, EsiTransportError, "ESI redirected too often"),
    (httpx.HTTPError, EsiTransportError, "the HTTP request to ESI failed"),
    (httpx.StreamError, EsiTransportError, "the HTTP stream was misused"),
    (httpx.CookieConflict, EsiTransportError, "conflicting cookies"),
    (OSError, EsiConnectionError, "the connection to ESI failed"),
)


def map_exception(exc: BaseException, *, method: str = "", url: str = "") -> EsiError:
    """The :mod:`esi.exceptions` error for an httpx (or socket) error; chain it with ``from exc``."""
    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        return EsiResponseError.for_status(resp.status_code)(resp.status_code, None, headers=dict(resp.headers))
    where = f" ({method.upper()} {url})" if method else ""
    for cls, target, text in _MAPPING:
        if isinstance(exc, cls):
            if cls is httpx.LocalProtocolError:  # h11 quotes the header it refused, e.g. Authorization
                return target(f"{text}{where}: {type(exc).__name__} (a header value is not valid HTTP)")
            return target(f"{text}{where}: {type(exc).__name__}: {exc}")
    return EsiTransportError(f"the HTTP request to ESI failed{where}: {type(exc).__name__}: {exc}")


_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _answer_headers(headers: httpx.Headers) -> LowerCaseHeaders:
    """The headers of an answer: lower-case names, repeated ones joined by ", " (as
    ``httpx.Headers.items()``), without the body's encoding headers; read once from the raw list."""
    encoding = headers.encoding
    out = LowerCaseHeaders()
    for raw_name, raw_value in headers.raw:
        name = raw_name.decode(encoding).lower()
        if name in _BODY_HEADERS:
            continue
        value = raw_value.decode(encoding)
        if name in out:
            out[name] += ", " + value
        else:
            out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What ESI sent back: the status, the headers (lower-case names, repeated ones joined by ", ",
    without the body's encoding headers) and the decoded body. A plain record, not an
    ``httpx.Response``: the body is read already, and a second httpx response would only parse
    the headers again."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _read_capped(response: httpx.Response, started: float, method: str, url: str) -> bytes:
    """The decoded body of a streamed ``response``, within the size and time caps."""
    limit = int(cap("ESI_MAX_RESPONSE_BYTES"))
    deadline = started + cap("ESI_REQUEST_DEADLINE")
    where = f"{method.upper()} {url}"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
        note_capped("ESI_MAX_RESPONSE_BYTES", declared, "a body of (bytes)")
        raise EsiResponseTooLarge(
            f"ESI's answer to {where} is {declared} bytes, more than ESI_MAX_RESPONSE_BYTES ({limit}); "
            "nothing of it was read. Raise the setting if such answers are real."
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            note_capped("ESI_MAX_RESPONSE_BYTES", f">{limit}", "a body (decompressed) of (bytes)")
            raise EsiResponseTooLarge(
                f"ESI's answer to {where} is larger than ESI_MAX_RESPONSE_BYTES ({limit} bytes, decompressed); "
                "reading stopped there. Raise the setting if such answers are real."
            )
        if time.monotonic() > deadline:
            note_capped("ESI_REQUEST_DEADLINE", f"{size} bytes read", "a body still coming after")
            raise EsiTimeout(
                f"ESI's answer to {where} took longer than ESI_REQUEST_DEADLINE ({cap('ESI_REQUEST_DEADLINE'):g} s) "
                f"in total ({size} bytes read); try again later."
            )
        chunks.append(chunk)
    return b"".join(chunks)


def compatibility_date() -> str:
    value = esi_settings.ESI_COMPATIBILITY_DATE
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _config() -> tuple[Any, ...]:
    s = esi_settings
    return (
        s.ESI_REQUESTS_CONNECT_TIMEOUT,
        s.ESI_REQUESTS_READ_TIMEOUT,
        s.ESI_REQUESTS_WRITE_TIMEOUT,
        s.ESI_REQUESTS_POOL_TIMEOUT,
        s.ESI_CONNECTION_POOL_MAX_CONNECTIONS,
        s.ESI_CONNECTION_POOL_MAX_KEEPALIVE,
        s.ESI_CONNECTION_POOL_KEEPALIVE_EXPIRY,
    )


class HttpPool:
    """Sends requests over the process's pooled ``httpx.Client`` (composition, not a subclass).

    Not an httpx transport: it *has* an ``httpx.Client``, and ``transport=`` swaps that client's
    network layer (``httpx.MockTransport`` in unit tests).
    """

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._key: tuple[Any, ...] | None = None
        self._headers: dict[str, str] = {}
        self._seen: int | None = None

    def _build(self, config: tuple[Any, ...]) -> httpx.Client:
        connect, read, write, pool, max_conn, max_keepalive, expiry = config
        return httpx.Client(
            timeout=httpx.Timeout(connect=connect, read=read, write=write, pool=pool),
            limits=httpx.Limits(
                max_connections=max_conn, max_keepalive_connections=max_keepalive, keepalive_expiry=expiry
            ),
            transport=self._transport,
            follow_redirects=False,
        )

    def refresh(self) -> None:
        """Re-read the pool/timeout/User-Agent settings on the next request (after changing
        settings by assignment; ``override_settings`` does this by itself)."""
        self._seen = None

    def _current(self) -> tuple[httpx.Client, dict[str, str]]:
        """The client and base headers; settings are re-read only after a change or a fork."""
        seen = settings_generation()  # bumped by setting_changed and in a forked child: no getpid() per call
        client = self._client
        if seen == self._seen and client is not None:
            return client, self._headers
        with self._lock:
            key = (os.getpid(), *_config())
            client = self._client
            if client is None or key != self._key:
                old, old_key = client, self._key
                client = self._client = self._build(key[1:])
                self._key = key
                if old is not None and old_key is not None and old_key[0] == key[0]:
                    old.close()  # same process: release its sockets; after fork leave the parent's alone
            base = {
                "User-Agent": user_agent(),
                "X-Compatibility-Date": compatibility_date(),
                "Accept": "application/json",
            }
            client.headers = base  # the client's defaults: a request passes only its extras
            self._headers = base
            self._seen = seen
            return client, base

    @property
    def client(self) -> httpx.Client:
        """The ``httpx.Client`` of this process (a new one after fork or a settings change)."""
        return self._current()[0]

    def compatibility_date(self) -> str:
        """The X-Compatibility-Date this transport sends (cached like the headers)."""
        return self._current()[1]["X-Compatibility-Date"]

    def base_headers(self) -> dict[str, str]:
        """User-Agent, X-Compatibility-Date and Accept: what every request sends by default."""
        return dict(self._current()[1])

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> HttpAnswer:
        """One HTTP exchange; every httpx error is raised as its :mod:`esi.exceptions` class.

        ``headers`` are added to (or override) :meth:`base_headers`, which the client sends anyway.
        The body is read in chunks, decompressed, and refused past ``ESI_MAX_RESPONSE_BYTES``
        (:class:`~esi.exceptions.EsiResponseTooLarge`) or ``ESI_REQUEST_DEADLINE`` seconds in
        total (:class:`~esi.exceptions.EsiTimeout`): httpx's timeouts are per read, so a body
        that trickles in forever would pass them.
        """
        client, base = self._current()
        if headers and all(base.get(name) == value for name, value in headers.items()):
            headers = None  # the client's defaults already say it: httpx need not merge a copy
        try:
            request = client.build_request(
                method.upper(), url, headers=headers or None, params=params or None, json=json_body
            )
            started = time.monotonic()
            response = client.send(request, stream=True)
            try:
                body = _read_capped(response, started, method, url)
            finally:
                response.close()
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict, OSError) as exc:
            raise map_exception(exc, method=method, url=url) from exc
        return HttpAnswer(response.status_code, _answer_headers(response.headers), body)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._key is not None and self._key[0] == os.getpid():
                self._client.close()
            self._client = None
            self._key = None
            self._seen = None


_pool: HttpPool | None = None
_pool_lock = threading.Lock()


def shared_pool() -> HttpPool:
    """The one pool every client of this process (and the view fetch) sends through."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = HttpPool()
            pool = _pool
    return pool

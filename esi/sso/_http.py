"""HTTP to EVE SSO: one pooled transport per process, and retries with backoff.

SSO calls are few (logins, refreshes, key fetches), but many threads make them at once: they
share one thread-safe ``httpx.HTTPTransport`` pool. Server errors, 429 and timeouts are retried
``ESI_SERVER_ERROR_MAX_RETRIES`` times (backoff ``ESI_SERVER_ERROR_WAIT_EXPONENT * 2**n`` s plus up to
10 % jitter, :func:`esi._backoff.exponential`), then
become :class:`~esi.exceptions.SSOUnavailable`. Nothing here ever logs a request body.

A refresh is not idempotent: SSO may rotate the refresh token as soon as it reads the request,
and a second request with the old one is then refused (``invalid_grant``) and the token lost.
So ``retrying(..., resend=False)`` repeats a call only when SSO surely never read it (no
connection, no free pooled connection, or a 429 refusal); after a 5xx, a read or write timeout
or a dropped connection it gives up at once with ``SSOUnavailable`` and sends nothing again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from esi._backoff import exponential
from esi.app_settings import esi_settings, user_agent
from esi.exceptions import SSOUnavailable

__all__ = [
    "RetryableStatus",
    "http_client",
    "raise_for_retryable",
    "retrying",
    "shared_transport",
    "sso_headers",
    "sso_timeout",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
_transports: dict[int, httpx.HTTPTransport] = {}

#: Longest Retry-After (seconds) honoured in-process; longer ones give up at once.
MAX_RETRY_AFTER = 10.0


class RetryableStatus(Exception):
    """Raised by a call that got a 5xx or 429 worth retrying (internal)."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"SSO answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def shared_transport() -> httpx.HTTPTransport:
    """The process-wide connection pool to SSO (rebuilt after ``fork``)."""
    pid = os.getpid()
    transport = _transports.get(pid)
    if transport is None:
        with _lock:
            transport = _transports.get(pid)
            if transport is None:
                limits = httpx.Limits(
                    max_connections=esi_settings.ESI_CONNECTION_POOL_MAX_CONNECTIONS,
                    max_keepalive_connections=esi_settings.ESI_CONNECTION_POOL_MAX_KEEPALIVE,
                    keepalive_expiry=esi_settings.ESI_CONNECTION_POOL_KEEPALIVE_EXPIRY,
                )
                transport = httpx.HTTPTransport(limits=limits)
                _transports[pid] = transport
    return transport


def sso_timeout() -> httpx.Timeout:
    s = esi_settings
    return httpx.Timeout(
        connect=s.ESI_REQUESTS_CONNECT_TIMEOUT,
        read=s.ESI_REQUESTS_READ_TIMEOUT,
        write=s.ESI_REQUESTS_WRITE_TIMEOUT,
        pool=s.ESI_REQUESTS_POOL_TIMEOUT,
    )


def sso_headers() -> dict[str, str]:
    """The application's User-Agent (same as for ESI) and JSON accept."""
    return {"User-Agent": user_agent(), "Accept": "application/json"}


def http_client() -> httpx.Client:
    """A light client on the shared pool (closing it would close the pool: just drop it)."""
    return httpx.Client(transport=shared_transport(), timeout=sso_timeout(), headers=sso_headers())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def raise_for_retryable(response: httpx.Response) -> None:
    """Turn a 5xx or 429 into :class:`RetryableStatus`."""
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryableStatus(response.status_code, _retry_after(response))


#: Failures after which SSO surely did not read the request: safe to send it again.
NOT_SENT: tuple[type[BaseException], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _never_read(exc: BaseException) -> bool:
    if isinstance(exc, RetryableStatus):
        return exc.status == 429
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429
    return isinstance(exc, NOT_SENT)


def retrying(what: str, call: Callable[[], T], *, resend: bool = True, deadline: float | None = None) -> T:
    """Run ``call`` with SSO's retry policy; ``what`` names the call in logs and errors.

    ``resend=False``: retry only failures that SSO surely never read (see the module's doc).
    ``deadline``: no retry starts later than this many seconds after the first attempt.
    """
    retries = max(0, int(esi_settings.ESI_SERVER_ERROR_MAX_RETRIES))
    base = float(esi_settings.ESI_SERVER_ERROR_WAIT_EXPONENT)
    started = time.monotonic()
    attempt = 0
    while True:
        last: Exception
        wait = exponential(attempt, base=base)
        try:
            return call()
        except ValueError as exc:  # authlib: "Token endpoint response is not a JSON object"
            last, problem = exc, "a body that is not JSON"
        except RetryableStatus as exc:
            last, problem = exc, f"HTTP {exc.status}"
            if exc.retry_after is not None:
                if exc.retry_after > MAX_RETRY_AFTER:
                    raise SSOUnavailable(
                        f"EVE SSO asked to wait {exc.retry_after:.0f} s before the {what}; try again later."
                    ) from None
                wait = max(wait, exc.retry_after)
        except httpx.HTTPStatusError as exc:  # authlib raises these for 5xx token responses
            if exc.response.status_code < 500 and exc.response.status_code != 429:
                raise SSOUnavailable(
                    f"EVE SSO answered HTTP {exc.response.status_code} without a usable body to the {what}."
                ) from exc
            last, problem = exc, f"HTTP {exc.response.status_code}"
        except httpx.TimeoutException as exc:
            last, problem = exc, f"timeout ({type(exc).__name__})"
        except httpx.TransportError as exc:
            last, problem = exc, f"connection error ({type(exc).__name__})"
        if not resend and not _never_read(last):
            logger.warning("EVE SSO %s failed (%s); not sent again: SSO may have acted on it", what, problem)
            raise SSOUnavailable(
                f"EVE SSO did not answer the {what} usefully ({problem}); it is not sent again, because SSO may "
                "already have acted on it. Stored tokens were left untouched; try again later."
            ) from last
        late = deadline is not None and time.monotonic() - started + wait > deadline
        if attempt >= retries or late:
            logger.warning("EVE SSO %s failed after %d attempt(s): %s", what, attempt + 1, problem)
            raise SSOUnavailable(
                f"EVE SSO did not answer the {what} usefully after {attempt + 1} attempt(s) (last: {problem}); "
                "stored tokens were left untouched, try again later."
            ) from last
        logger.info("EVE SSO %s: %s; retry %d of %d in %.2f s", what, problem, attempt + 1, retries, wait)
        time.sleep(wait)
        attempt += 1

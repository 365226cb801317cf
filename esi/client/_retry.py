"""Backoff for server errors, timeouts and broken connections.

The n-th retry (n = 0, 1, 2, ...) waits ``ESI_SERVER_ERROR_WAIT_EXPONENT * 2**n`` seconds plus
up to 10 % jitter (:func:`esi._backoff.exponential`, shared with SSO and the tasks), or the
server's ``Retry-After`` when it sends one (but never more than :data:`MAX_RETRY_AFTER`: a
longer pause is the caller's business, e.g. a re-queued task).
At most ``ESI_SERVER_ERROR_MAX_RETRIES`` retries follow the first attempt. 4xx answers are
never retried, and neither is a 500: ESI answers 500 when it fails on that request itself
(django-esi 10 did not retry it either, and apps' code and tests count on one request). Only
idempotent requests are retried (see :func:`is_retry_safe`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from esi._backoff import exponential
from esi.client._config import config
from esi.client._spec import Operation
from esi.client._transport import HttpAnswer
from esi.exceptions import EsiConnectionError, EsiTimeout

__all__ = ["MAX_RETRY_AFTER", "RETRY_SAFE_POSTS", "RETRY_STATUSES", "RetryPolicy", "is_retry_safe"]

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_RETRY_AFTER = 30.0

#: POST operations that only look things up: sending them twice changes nothing.
RETRY_SAFE_POSTS = frozenset(
    {
        "PostCharactersAffiliation",
        "PostCharactersCharacterIdAssetsLocations",
        "PostCharactersCharacterIdAssetsNames",
        "PostCharactersCharacterIdCspa",
        "PostCorporationsCorporationIdAssetsLocations",
        "PostCorporationsCorporationIdAssetsNames",
        "PostRoute",
        "PostUniverseIds",
        "PostUniverseNames",
    }
)


def is_retry_safe(op: Operation) -> bool:
    """GETs and lookup POSTs are retried; writes (mail, contacts, fittings, fleets...) are not,
    since a 5xx or timeout may come after ESI already applied them."""
    return op.method in ("get", "head") or op.id in RETRY_SAFE_POSTS


def _retry_after(response: HttpAnswer | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class RetryPolicy:
    """How often and how long to wait; ``sleep``/``rand`` are injectable so tests are instant."""

    max_retries: int | None = None
    wait_exponent: float | None = None
    jitter: float = 0.1
    #: Answers retried like timeouts; empty for clients that retry only broken connections.
    statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def _max_retries(self) -> int:
        return int(self.max_retries if self.max_retries is not None else config().max_retries)

    def delay(self, n: int, response: HttpAnswer | None = None) -> float | None:
        """Seconds before the n-th retry, or None when Retry-After asks for more than we may wait."""
        retry_after = _retry_after(response)
        if retry_after is not None:
            return retry_after if retry_after <= MAX_RETRY_AFTER else None
        exponent = self.wait_exponent
        base = float(exponent if exponent is not None else config().wait_exponent)
        return exponential(n, base=base, jitter=self.jitter, rand=self.rand)

    def run(self, attempt: Callable[[], HttpAnswer], *, retry: bool, label: str = "") -> HttpAnswer:
        """Call ``attempt`` until it gives a non-5xx answer or the retries are spent.

        The last 5xx response is returned (the caller raises it); the last timeout or
        connection error is re-raised.
        """
        retries = self._max_retries() if retry else 0
        n = 0
        while True:
            wait: float | None
            try:
                answer = attempt()
            except (EsiTimeout, EsiConnectionError) as exc:
                if n >= retries:
                    raise
                wait = self.delay(n)
                reason = type(exc).__name__
            else:
                if answer.status_code not in self.statuses or n >= retries:
                    return answer
                wait = self.delay(n, answer)
                if wait is None:
                    return answer
                reason = str(answer.status_code)
            assert wait is not None
            logger.warning("ESI %s: %s, retry %d of %d in %.2f s", label, reason, n + 1, retries, wait)
            self.sleep(wait)
            n += 1

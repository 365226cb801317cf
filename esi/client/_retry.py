"""Backoff for server errors, timeouts and broken connections.

The n-th retry (n = 0, 1, 2, ...) waits ``ESI_SERVER_ERROR_WAIT_EXPONENT * 2**n`` seconds plus
up to 10 % jitter (:func:`esi._backoff.exponential`, shared with SSO and the tasks), or the
server's ``Retry-After`` when it sends one (capped by ``ESI_MAX_PAUSE``; more than
:data:`MAX_RETRY_AFTER` is not waited for: the 5xx is raised and the caller decides).
At most ``ESI_SERVER_ERROR_MAX_RETRIES`` retries follow the first attempt. 4xx answers are
never retried, and neither is a 500: ESI answers 500 when it fails on that request itself
(django-esi 10 did not retry it either, and apps' code and tests count on one request). Only
idempotent requests are retried (see :func:`is_retry_safe`).

Inside a Celery worker the tasks set an in-process wait limit (``ESI_MAX_IN_PROCESS_WAIT``,
:func:`esi._backoff.waiting_at_most`): when ESI's ``Retry-After`` would make the waits of one
call longer than that in total, the call ends with :class:`~esi.exceptions.EsiRetryLater`
(``retry_after`` = ESI's wait) and the task re-queues itself with that countdown. The client's
own backoff never sleeps past the limit either: the retries stop there, the last 5xx (or
timeout) is raised, and Celery's retry policy takes over.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from esi._backoff import exponential, in_process_wait_limit
from esi.client._config import config
from esi.client._spec import Operation
from esi.client._transport import HttpAnswer
from esi.client.limits import pause_seconds
from esi.exceptions import EsiConnectionError, EsiRetryLater, EsiTimeout

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
    """ESI's ``Retry-After`` in seconds (a number or an HTTP date), capped by ``ESI_MAX_PAUSE``."""
    if response is None:
        return None
    return pause_seconds(response.headers.get("retry-after"))


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
        connection error is re-raised; :class:`~esi.exceptions.EsiRetryLater` when ESI asks for
        a longer wait than the context's in-process limit allows.
        """
        retries = self._max_retries() if retry else 0
        limit = in_process_wait_limit()
        waited = 0.0
        n = 0
        while True:
            wait: float | None
            try:
                answer = attempt()
            except (EsiTimeout, EsiConnectionError) as exc:
                if n >= retries:
                    raise
                wait = self.delay(n)
                if limit is not None and waited + (wait or 0.0) > limit:
                    raise
                reason = type(exc).__name__
            else:
                if answer.status_code not in self.statuses or n >= retries:
                    return answer
                asked = _retry_after(answer)
                wait = self.delay(n, answer)
                if limit is not None and (wait is None or waited + wait > limit):
                    if asked is None:
                        return answer  # our own backoff: stop here, the caller's policy retries later
                    logger.info(
                        "ESI %s: %s, asked to wait %.1f s; not waited in place (limit %.1f s)",
                        label,
                        answer.status_code,
                        asked,
                        limit,
                    )
                    raise EsiRetryLater(
                        asked,
                        f"ESI answered {answer.status_code} to {label} and asked to wait {asked:.1f} s, longer than "
                        f"this worker waits in place (ESI_MAX_IN_PROCESS_WAIT = {limit:g} s); try again then.",
                        answer.status_code,
                    )
                if wait is None:
                    return answer
                reason = str(answer.status_code)
            assert wait is not None
            logger.warning("ESI %s: %s, retry %d of %d in %.2f s", label, reason, n + 1, retries, wait)
            self.sleep(wait)
            waited += wait
            n += 1

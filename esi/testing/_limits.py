"""ESI's two limits: the error limit (fixed window) and the rate limit (floating window per group).

Error limit: every error response (4xx/5xx except 420 itself) on a route *without* a rate-limit
group spends one of ``limit`` errors in a fixed window that starts with the first error; once
none are left every ESI request gets 420 until the window ends.

Rate limit: the spec's ``x-rate-limit`` groups. A request is refused with 429 while the bucket has
no tokens left; a served request spends tokens by status class (2xx 2, 3xx 1, 4xx 5, 429 0,
5xx 0), which come back ``window`` seconds later (floating window).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from esi.testing._routes import format_window

__all__ = ["ErrorLimit", "RateBucket", "RateLimits", "token_cost"]


def token_cost(status: int) -> int:
    """Tokens a response of ``status`` spends, as ESI documents it."""
    if status == 429 or status >= 500:
        return 0
    if status >= 400:
        return 5
    if status >= 300:
        return 1
    return 2


class ErrorLimit:
    """The fixed-window error budget shared by all routes without a rate-limit group."""

    def __init__(self, limit: int = 100, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.errors = 0
        self.window_end = 0.0

    def _roll(self, now: float) -> None:
        if now >= self.window_end:
            self.errors = 0
            self.window_end = 0.0

    def exhausted(self, now: float | None = None) -> bool:
        """True while requests must be answered with 420."""
        now = time.monotonic() if now is None else now
        self._roll(now)
        return self.errors >= self.limit

    def record(self, status: int, now: float | None = None) -> None:
        """Count an error response (420s are not counted again)."""
        if status < 400 or status == 420:
            return
        now = time.monotonic() if now is None else now
        self._roll(now)
        if self.window_end == 0.0:
            self.window_end = now + self.window
        self.errors += 1

    def headers(self, now: float | None = None) -> list[tuple[bytes, bytes]]:
        """``X-ESI-Error-Limit-Remain`` and ``-Reset`` as of now."""
        now = time.monotonic() if now is None else now
        self._roll(now)
        reset = math.ceil(self.window_end - now) if self.window_end else int(self.window)
        remain = max(0, self.limit - self.errors)
        return [
            (b"x-esi-error-limit-remain", str(remain).encode()),
            (b"x-esi-error-limit-reset", str(max(reset, 0)).encode()),
        ]

    def reset_in(self, now: float | None = None) -> int:
        """Whole seconds until the window ends (for ``Retry-After`` on 420)."""
        now = time.monotonic() if now is None else now
        return max(1, math.ceil(self.window_end - now)) if self.window_end else 0


@dataclass
class RateBucket:
    """One floating-window bucket: the tokens spent and when each spend comes back."""

    group: str
    max_tokens: int
    window: float
    spent: deque[tuple[float, int]] = field(default_factory=deque)
    used: int = 0

    def _expire(self, now: float) -> None:
        cutoff = now - self.window
        while self.spent and self.spent[0][0] <= cutoff:
            self.used -= self.spent.popleft()[1]

    def remaining(self, now: float) -> int:
        self._expire(now)
        return self.max_tokens - self.used

    def retry_after(self, now: float) -> int:
        """Whole seconds until the bucket has a token again."""
        self._expire(now)
        over = self.used - self.max_tokens + 1
        returned = 0
        for at, cost in self.spent:
            returned += cost
            if returned >= over:
                return max(1, math.ceil(at + self.window - now))
        return 1

    def spend(self, cost: int, now: float) -> None:
        if cost:
            self.spent.append((now, cost))
            self.used += cost

    def headers(self, cost: int, now: float) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-group", self.group.encode()),
            (b"x-ratelimit-limit", f"{self.max_tokens}/{format_window(self.window)}".encode()),
            (b"x-ratelimit-remaining", str(max(0, self.remaining(now))).encode()),
            (b"x-ratelimit-used", str(cost).encode()),
        ]


class RateLimits:
    """All buckets, keyed by (group, caller): caller is ``app:char`` when authenticated, else the IP."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], RateBucket] = {}

    def bucket(self, group: str, caller: str, max_tokens: int, window: float) -> RateBucket:
        key = (group, caller)
        bucket = self.buckets.get(key)
        if bucket is None or bucket.max_tokens != max_tokens or bucket.window != window:
            bucket = RateBucket(group, max_tokens, window, *(() if bucket is None else (bucket.spent, bucket.used)))
            self.buckets[key] = bucket
        return bucket

    def clear(self) -> None:
        self.buckets.clear()

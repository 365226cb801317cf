"""Shared rate-limit and error-limit guard: every process on every host stays inside ESI's limits.

The client calls :meth:`Limiter.acquire` before each request and :meth:`Limiter.settle` with
the answer's status and headers after it (status ``0`` when no answer came). The state lives
in Redis and changes only inside Lua scripts (:mod:`esi.client._limits_lua`), so every worker
sharing ``ESI_REDIS_URL`` sees one budget. ``acquire`` costs at most one Redis round trip, and
usually none: requests without a group reuse this process's error units
(:mod:`esi.client._limits_lease`), busy groups reserve in batches
(:mod:`esi.client._limits_batch`); ``settle`` never waits for Redis
(:mod:`esi.client._limits_redis`).

Why a request reserves 2 tokens (the cost of a 2xx), not 5 (a 4xx): ESI admits a request
while its bucket has tokens and charges the real cost afterwards, so an admitted request is
never refused for its own cost. Reserving the common cost lets the last tokens of a window be
used (reserving 5 would strand up to 4 per process); a 4xx settles at 5 and the local view
then blocks until tokens come back, exactly as ESI's view does. Every request that ESI
counts was reserved first, and settled entries are timestamped at the answer (never before
ESI spent them), so the local view never holds more tokens than ESI's: no 429 from our own
traffic. Tokens spent elsewhere (another app on the same IP) show up in
``X-Ratelimit-Remaining`` and are booked locally at once.

The error limit is guarded the same way: every request in flight may still become an error,
so a request is admitted only while ``remain - in_flight - 1 >= ESI_ERROR_LIMIT_THRESHOLD``.
Even if every admitted request fails, the remaining errors never fall below the threshold,
and at the threshold everything pauses until the window resets: ESI never sends a 420.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
import redis

from esi.app_settings import esi_settings
from esi.client import _limits_lua as lua
from esi.client._limits_batch import TokenBatches
from esi.client._limits_lease import ErrorUnits
from esi.client._limits_redis import ScriptPipe
from esi.client._limits_rules import (
    ASSUMED_ERROR_LIMIT,
    cost_of,
    downtime_remaining,
    header_int,
    header_num,
    parse_limit,
    retry_countdown,
    spare_lifetime,
    threshold,
    unit_params,
)
from esi.exceptions import EsiErrorLimited, EsiRateLimited
from esi.redis import get_redis

__all__ = [
    "ASSUMED_ERROR_LIMIT",
    "RESERVE_COST",
    "Limiter",
    "RateLimitGroup",
    "Reservation",
    "cost_of",
    "downtime_remaining",
    "get_limiter",
    "reset_limiter",
    "retry_countdown",
]

logger = logging.getLogger(__name__)

#: Tokens a request reserves before it is sent (the cost of a 2xx); see the module docstring.
RESERVE_COST = 2
PREFIX = "esi:limits:"


@dataclass(frozen=True)
class RateLimitGroup:
    """An operation's ``x-rate-limit`` from the spec: ``{group, max-tokens, window-size}``."""

    name: str
    max_tokens: int
    window_seconds: float


@dataclass
class Reservation:
    """What :meth:`Limiter.acquire` reserved for one request, handed back to :meth:`Limiter.settle`."""

    group: RateLimitGroup | None
    identity: str  # "app" for public calls, the character id for authenticated ones
    cost: int = 0  # tokens reserved in the group's bucket
    id: str | None = field(default=None, repr=False)  # the bucket entry (requests of a group)
    unit: str | None = field(default=None, repr=False)  # the error-limit unit (requests without a group)


class Limiter:
    """Shared view of ESI's budgets in Redis; see the module docstring and ``docs/limits.md``."""

    def __init__(self, redis_factory: Callable[[], redis.Redis] = get_redis, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self._redis_factory = redis_factory
        self._pipe = ScriptPipe(redis_factory, (lua.ACQUIRE, lua.LEASE, lua.SETTLE))
        self._err = prefix + "err"
        self._inflight = prefix + "inflight"
        self._seq = prefix + "seq"
        self._groups = prefix + "groups"
        self._batches = TokenBatches()
        self._units = ErrorUnits(self._pipe, self._err, self._inflight, unit_params, self._batches.distrust)

    def __repr__(self) -> str:
        return f"<Limiter prefix={self.prefix!r}>"

    @lru_cache(maxsize=4096)  # noqa: B019 - one Limiter per process; bounded
    def _bucket(self, name: str, identity: str) -> tuple[str, str, str]:
        key = f"{self.prefix}rl:{name}:{identity}"
        return key, key + ":m", f"{name}\n{identity}"

    # --- the request path ----------------------------------------------------------------------

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        """Reserve budget for one request, or raise ``EsiRateLimited``/``EsiErrorLimited`` without I/O to ESI."""
        if not esi_settings.ESI_RATE_LIMITING:
            return Reservation(group=group, identity=identity)
        down = downtime_remaining()
        if down > 0:
            raise EsiErrorLimited(
                down, f"ESI is in its daily downtime (ESI_DOWNTIME_START); nothing is sent for {down:.0f} s."
            )
        try:
            if group is None:
                code, value = self._units.take()
                if code == 0:
                    return Reservation(None, identity, 0, None, value)
            else:
                key = (group, identity)
                held = self._batches.take(key)
                if held is not None:
                    return Reservation(group, identity, RESERVE_COST, held)
                want, drop = self._batches.plan(key)
                bz, bm, label = self._bucket(group.name, identity)
                keys = (self._err, self._inflight, self._seq, self._groups, bz, bm)
                args = (threshold(), RESERVE_COST, group.max_tokens, group.window_seconds, label, want)
                code, value, *count = self._pipe.call(lua.ACQUIRE, keys, (*args, spare_lifetime(), *drop))
                if code == 0:
                    return Reservation(group, identity, RESERVE_COST, self._batches.store(key, value, count[0]))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.error("The shared ESI limits in Redis cannot be checked: %s", exc)
            raise EsiErrorLimited(
                5.0, f"Redis ({type(exc).__name__}) cannot be reached to check ESI's limits; retry in 5 s."
            ) from exc
        wait = float(value)
        if code == 2:
            assert group is not None
            raise EsiRateLimited(group.name, wait)
        if code == 3:
            raise EsiErrorLimited(
                wait,
                f"Requests in flight could use up what is left of ESI's error limit; retry in {wait:.1f} s.",
            )
        raise EsiErrorLimited(wait)

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """Record what the response says about the budgets (status class cost, X-Ratelimit-*, X-ESI-Error-Limit-*)."""
        unit = reservation.unit
        if reservation.id is None and unit is None:
            return
        if not isinstance(headers, httpx.Headers):
            headers = {k.lower(): v for k, v in headers.items()}
        get = headers.get
        err_remain = get("x-esi-error-limit-remain")
        rl_remaining = get("x-ratelimit-remaining")
        limit_threshold = threshold()
        keep = "0"
        if unit is not None:
            if 0 < status < 400:
                remain = header_int(err_remain)
                if not self._units.give_back(unit, remain, limit_threshold):
                    return  # nothing new: the common case costs no Redis command at all
                keep = "1"
            else:
                self._units.consume(unit)
        elif status == 420:
            self._units.distrust()
        if status == 420:
            self._batches.distrust()
        elif status == 429 and reservation.group is not None:
            self._batches.distrust(reservation.group.name)
        no_header = status == 0 or (status >= 400 and err_remain is None and rl_remaining is None)
        group = reservation.group
        keys: tuple[str, ...] = (self._err, self._inflight, self._groups)
        used = get("x-ratelimit-used")
        real = int(used) if used is not None and used.isdigit() else cost_of(status)
        if status == 0:
            real = reservation.cost  # ESI may or may not have answered: keep what was reserved
        limit = parse_limit(get("x-ratelimit-limit"))
        label, spec_max, spec_window = "", "", ""
        if group is not None:
            bz, bm, label = self._bucket(group.name, reservation.identity)
            keys += (bz, bm)
            spec_max, spec_window = str(group.max_tokens), repr(float(group.window_seconds))
        args = (
            unit or reservation.id,
            limit_threshold,
            reservation.cost,
            real,
            header_num(err_remain),
            header_num(get("x-esi-error-limit-reset")),
            header_num(rl_remaining),
            str(limit[0]) if limit else "",
            repr(limit[1]) if limit else "",
            header_num(get("retry-after")),
            status,
            "1" if no_header else "0",
            label,
            spec_max,
            spec_window,
            keep,
        )
        if group is not None and 200 <= status < 400 and real <= reservation.cost:
            self._pipe.defer(lua.SETTLE, keys, args)  # only confirms (or refunds) the reservation
        else:
            self._pipe.send(lua.SETTLE, keys, args)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused (the request was never sent)."""
        self.settle(reservation, 1, {})

    def flush(self) -> None:
        """Wait until Redis has applied every settle of this process (tests, shutdown)."""
        self._pipe.flush()

    def close(self) -> None:
        """Give back this process's error units and spare reservations; stop its heartbeat (tests, shutdown)."""
        self._units.close()
        for (group, identity), ids in self._batches.drain().items():
            for rid in ids:
                self.release(Reservation(group, identity, RESERVE_COST, rid))
        self._pipe.flush()

    # --- views -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every group's and the error limit's budget and reset time (seconds from now).

        ``{"enabled", "error_limit": {...}, "downtime": {...}, "groups": [{...}, ...]}``; see
        ``docs/limits.md`` for the fields.
        """
        limit_threshold = threshold()
        down = downtime_remaining()
        start = esi_settings.ESI_DOWNTIME_START
        out: dict[str, Any] = {
            "enabled": bool(esi_settings.ESI_RATE_LIMITING),
            "downtime": {
                "start": start or None,
                "duration": esi_settings.ESI_DOWNTIME_DURATION if start else None,
                "active": down > 0,
                "ends_in": down if down > 0 else None,
            },
        }
        self.flush()
        client = self._redis_factory()
        now_s, err, inflight, groups = client.register_script(lua.SNAPSHOT)(
            keys=[self._err, self._inflight, self._groups], args=[self.prefix + "rl:"]
        )
        now = float(now_s)

        def num(raw: bytes) -> float | None:
            return float(raw) if raw else None

        remain, reset_at, limit, pause_until = (num(v) for v in err[:4])
        reason: bytes = err[4]
        window_known = reset_at is not None and reset_at > now
        paused = pause_until is not None and pause_until > now
        out["error_limit"] = {
            "remain": int(remain) if remain is not None and window_known else None,
            "limit": int(limit) if limit else None,
            "reset_in": reset_at - now if window_known and reset_at is not None else None,
            "in_flight": int(inflight),
            "threshold": limit_threshold,
            "paused": paused,
            "paused_for": pause_until - now if paused and pause_until is not None else 0.0,
            "reason": reason.decode() if paused and reason else None,
        }
        rows = []
        for label, max_t, window, used, gpause, back, full in groups:
            name, _, identity = label.decode().partition("\n")
            max_tokens = int(float(max_t)) if max_t else None
            used_i = int(float(used))
            gp = num(gpause)
            rows.append(
                {
                    "group": name,
                    "identity": identity,
                    "max_tokens": max_tokens,
                    "window": num(window),
                    "used": used_i,
                    "remaining": max(0, max_tokens - used_i) if max_tokens is not None else None,
                    "next_token_in": max(0.0, float(back)) if back else None,
                    "full_in": max(0.0, float(full)) if full else 0.0,
                    "paused_for": gp - now if gp is not None and gp > now else 0.0,
                }
            )
        out["groups"] = sorted(rows, key=lambda r: (r["group"], r["identity"]))
        return out

    def clear(self) -> int:
        """Forget every recorded budget and pause (operators: after a wrong setting). -> keys deleted."""
        client = self._redis_factory()
        keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
        return int(client.delete(*keys)) if keys else 0


_lock = threading.Lock()
_limiter: Limiter | None = None


def get_limiter() -> Limiter:
    """The process-wide :class:`Limiter` (the client uses it; its Redis connection is fork-safe)."""
    global _limiter
    if _limiter is None:
        with _lock:
            if _limiter is None:
                _limiter = Limiter()
    return _limiter


def reset_limiter() -> None:
    """Give back this process's units and forget its local view (tests, after flushing Redis).

    The process-wide limiter stays the same object (the client holds it) and works on.
    """
    with _lock:
        if _limiter is not None:
            _limiter.close()

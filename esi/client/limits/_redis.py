"""The shared limiter: ESI's budgets in Redis, one EVALSHA per acquire and per settle.

The state changes only inside ``acquire.lua`` and ``settle.lua`` (redis-py ``Script`` on the
shared pool of :func:`esi.redis_pool.get_redis`; a script Redis forgot is loaded again), so every
process and host sharing ``ESI_REDIS_URL`` sees one budget. Nothing is held in the process: a
reservation is booked in Redis before its request goes out and settled when the answer comes,
and one whose process died lapses by itself (see ``docs/limits.md``). Every key shares one hash
tag (:class:`~esi.client.limits._scripts.KeySpace`), so the scripts run on Redis Cluster too.

Why a request reserves 2 tokens (a 2xx), not 5 (a 4xx): ESI admits a request while its bucket
has tokens and charges the real cost afterwards, so an admitted request is never refused for
its own cost; entries are timestamped at the answer (never before ESI spent them), so the local
view never holds more tokens than ESI's. The error limit is guarded the same way: a request is
admitted only while ``remain - in_flight - 1 >= ESI_ERROR_LIMIT_THRESHOLD``, so ESI never sends
a 420 even if every request in flight fails.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import httpx
import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from esi.app_settings import esi_settings
from esi.client.limits import _rules as rules
from esi.client.limits._model import Limiter, LowerCaseHeaders, Pending, RateLimitGroup, Reservation, RoundTrip
from esi.client.limits._scripts import AcquireArgs, KeySpace, SettleArgs, Settled, Verdict, encoded, source
from esi.exceptions import EsiConfigurationError, EsiErrorLimited, EsiRateLimited, RedisUnavailable
from esi.redis_pool import REDIS_ERRORS, get_redis, unavailable

__all__ = ["RedisLimiter", "get_limiter", "reset_limiter"]

logger = logging.getLogger("esi.client.limits")

_Call = tuple[tuple[bytes, ...], tuple[Any, ...]]  # (keys, argv) of one script run (argv: AcquireArgs/SettleArgs)
_CHECKING = "checking ESI's limits, so nothing was sent to ESI"


class RedisLimiter(Limiter):
    """Shared view of ESI's budgets in Redis; see the module docstring and ``docs/limits.md``."""

    def __init__(self, redis_factory: Callable[[], redis.Redis] = get_redis, prefix: str = "esi:limits:") -> None:
        self.prefix = prefix
        self.keys = KeySpace(prefix)
        self._solo = (self.keys.err.encode(), self.keys.inflight.encode())  # the keys without a group, encoded once
        self._redis_factory = redis_factory
        self._bound: tuple[redis.Redis, dict[str, Script]] | None = None
        self._pid = -1
        self._run = ""
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"<RedisLimiter prefix={self.prefix!r}>"

    # --- plumbing ------------------------------------------------------------------------------

    def _redis(self, what: str = _CHECKING) -> redis.Redis:
        try:
            with unavailable(what):  # a cluster client asks for the slot map when built
                return self._redis_factory()
        except ValueError as exc:  # a malformed ESI_REDIS_URL
            raise EsiConfigurationError(f"ESI_REDIS_URL is not usable: {exc}") from exc

    def _script(self, client: redis.Redis, name: str) -> Script:
        bound = self._bound
        if bound is None or bound[0] is not client:
            bound = (client, {n: client.register_script(source(n)) for n in ("acquire", "settle", "snapshot")})
            self._bound = bound
        return bound[1][name]

    def _new_id(self) -> str:
        """A reservation id unique across processes (a script re-sent by redis-py's retry books it once)."""
        if self._pid != os.getpid():
            self._pid, self._run, self._ids = os.getpid(), os.urandom(6).hex(), itertools.count(1)
        return f"{self._run}:{next(self._ids)}"

    @lru_cache(maxsize=4096)  # noqa: B019 - one limiter per process; bounded
    def _bucket(self, name: str, identity: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """The keys of a bucket's scripts, encoded once."""
        keys = self.keys
        bz, bm = keys.bucket(name, identity)
        return keys.err.encode(), keys.inflight.encode(), keys.groups.encode(), bz.encode(), bm.encode()

    # --- acquire -------------------------------------------------------------------------------

    def _acquire_call(self, group: RateLimitGroup | None, identity: str) -> tuple[Reservation, _Call] | Reservation:
        """The script run that reserves for one request; a bare Reservation when limiting is off."""
        cfg = rules.config()
        if not cfg.enabled:
            return Reservation(group, identity)
        down = rules.downtime_remaining() if cfg.downtime else 0.0
        if down > 0:
            raise EsiErrorLimited(
                down, f"ESI is in its daily downtime (ESI_DOWNTIME_START); nothing is sent for {down:.0f} s."
            )
        rid = self._new_id()
        const = _constants(cfg, rules.IN_FLIGHT_HOLD, rules.ASSUMED_ERROR_LIMIT)
        if group is None:
            args = AcquireArgs(rid, const.threshold, const.lifetime, const.hold, const.assumed_limit)
            return Reservation(None, identity, 0, rid), (self._solo, args)
        reserve, spec_max, spec_window, label = _group_args(group, identity, rules.RESERVE_COST)
        args = AcquireArgs(
            rid,
            const.threshold,
            const.lifetime,
            const.hold,
            const.assumed_limit,
            reserve,
            spec_max,
            spec_window,
            label,
        )
        reservation = Reservation(group, identity, rules.RESERVE_COST, rid)
        return reservation, (self._bucket(group.name, identity), args)

    def _verdict(self, reservation: Reservation, raw: Any) -> Reservation:
        verdict = Verdict(int(raw[0]))
        if verdict is Verdict.ADMITTED:
            return reservation
        wait = min(float(raw[1]), rules.config().max_pause)
        if verdict is Verdict.BUCKET_EMPTY:
            assert reservation.group is not None
            raise EsiRateLimited(reservation.group.name, wait)
        if verdict is Verdict.IN_FLIGHT_HOLD:
            raise EsiErrorLimited(
                wait, f"Requests in flight could use up what is left of ESI's error limit; retry in {wait:.1f} s."
            )
        raise EsiErrorLimited(wait)

    def _run_acquire(self, client: redis.Redis, reservation: Reservation, call: _Call) -> Reservation:
        with unavailable(_CHECKING):
            raw = self._script(client, "acquire")(keys=call[0], args=call[1], client=client)
        return self._verdict(reservation, raw)

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        """Reserve budget for one request, or raise ``EsiRateLimited``/``EsiErrorLimited`` without I/O to
        ESI (``RedisUnavailable`` when Redis does not answer: nothing is sent unguarded)."""
        plan = self._acquire_call(group, identity)
        if isinstance(plan, Reservation):
            return plan
        return self._run_acquire(self._redis(), *plan)

    def acquire_in(self, trip: RoundTrip, group: RateLimitGroup | None, identity: str) -> Pending:
        """:meth:`acquire` in the same round trip as ``trip``'s other commands (the cache read)."""
        try:
            plan = self._acquire_call(group, identity)
        except EsiErrorLimited as exc:  # the downtime: a cached answer may still be served
            error = exc
            return Pending(lambda: _raise(error))
        if isinstance(plan, Reservation):
            ready = plan
            return Pending(lambda: ready)
        client = self._redis()
        if not trip.shares(client):
            return Pending(lambda: self._run_acquire(client, *plan))
        reservation, (keys, argv) = plan
        index = trip.add("execute_command", "EVALSHA", self._script(client, "acquire").sha, len(keys), *keys, *argv)

        def resolve() -> Reservation:
            raw = trip.result(index)
            if isinstance(raw, NoScriptError):  # Redis restarted or was flushed: load it and run again
                return self._run_acquire(client, reservation, (keys, argv))
            if isinstance(raw, redis.RedisError):
                with unavailable(_CHECKING):
                    raise raw
            return self._verdict(reservation, raw)

        return Pending(resolve, self.release)

    # --- settle --------------------------------------------------------------------------------

    def _settle_call(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> _Call | None:
        if reservation.id is None:
            return None
        cfg = rules.config()
        if not isinstance(headers, httpx.Headers | LowerCaseHeaders):
            headers = {k.lower(): v for k, v in headers.items()}
        get = headers.get
        err_remain = get("x-esi-error-limit-remain")
        rl_remaining = get("x-ratelimit-remaining")
        used = get("x-ratelimit-used")
        real = int(used) if used is not None and used.isdigit() else rules.cost_of(status)
        if status == 0:
            real = reservation.cost  # ESI may or may not have answered: keep what was reserved
        limit = rules.parse_limit(get("x-ratelimit-limit"))
        retry_after = rules.pause_seconds(get("retry-after")) if status in (420, 429) else None
        const = _constants(cfg, rules.IN_FLIGHT_HOLD, rules.ASSUMED_ERROR_LIMIT)
        group = reservation.group
        if group is not None:
            _, spec_max, spec_window, label = _group_args(group, reservation.identity, rules.RESERVE_COST)
        else:
            spec_max = spec_window = label = b""
        args = SettleArgs(
            reservation.id,
            const.threshold,
            status,
            reservation.cost,
            real,
            _number(err_remain),
            _error_reset(get("x-esi-error-limit-reset"), cfg.max_pause),
            _number(rl_remaining),
            str(limit[0]) if limit else "",
            repr(limit[1]) if limit else "",
            "" if retry_after is None else repr(retry_after),
            b"1" if status == 0 or (status >= 400 and err_remain is None and rl_remaining is None) else b"0",
            label,
            spec_max,
            spec_window,
            const.max_pause,
        )
        if group is None:
            return self._solo, args
        return self._bucket(group.name, reservation.identity), args

    def _run_settle(self, client: redis.Redis, call: _Call) -> None:
        try:
            Settled.of(self._script(client, "settle")(keys=call[0], args=call[1], client=client))
        except REDIS_ERRORS as exc:
            _settle_failed(exc)

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """Record what the response says (status class cost, X-Ratelimit-*, X-ESI-Error-Limit-*, pauses).

        A Redis that does not answer here is logged, not raised: the answer is already in hand,
        and the reservation lapses by itself (a whole window for tokens, a request's lifetime for
        an error-limit unit), which errs on the safe side.
        """
        call = self._settle_call(reservation, status, headers)
        if call is None:
            return
        try:
            client = self._redis()
        except RedisUnavailable as exc:
            _settle_failed(exc)
            return
        self._run_settle(client, call)

    def settle_in(self, trip: RoundTrip, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """:meth:`settle` in the same round trip as ``trip``'s other commands (the cache write)."""
        call = self._settle_call(reservation, status, headers)
        if call is None:
            return
        try:
            client = self._redis()
        except RedisUnavailable as exc:
            _settle_failed(exc)
            return
        if not trip.shares(client):
            self._run_settle(client, call)
            return
        keys, argv = call
        index = trip.add("execute_command", "EVALSHA", self._script(client, "settle").sha, len(keys), *keys, *argv)

        def check(results: list[Any]) -> None:
            raw = results[index]
            if isinstance(raw, NoScriptError):
                self._run_settle(client, call)
            elif isinstance(raw, redis.RedisError):
                _settle_failed(raw)

        trip.then(check)

    # --- views -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every group's and the error limit's budget and reset time (seconds from now).

        ``{"enabled", "error_limit": {...}, "downtime": {...}, "groups": [{...}, ...]}``; see
        ``docs/limits.md`` for the fields.
        """
        limit_threshold = rules.threshold()
        down = rules.downtime_remaining()
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
        client = self._redis("reading ESI's limits")
        with unavailable("reading ESI's limits"):
            labels = sorted(m.decode() if isinstance(m, bytes) else m for m in client.smembers(self.keys.groups))
            keys: list[str] = [self.keys.err, self.keys.inflight, self.keys.groups]
            for label in labels:
                name, _, identity = label.partition("\n")
                keys.extend(self.keys.bucket(name, identity))
            now_s, err, inflight, groups = self._script(client, "snapshot")(keys=keys, args=labels, client=client)
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
        client = self._redis("clearing ESI's limits")
        with unavailable("clearing ESI's limits"):
            keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
            return int(client.delete(*keys)) if keys else 0


class _Constants(NamedTuple):
    """The script arguments that change only with the settings, encoded once."""

    threshold: bytes
    lifetime: bytes
    hold: bytes
    assumed_limit: bytes
    max_pause: bytes


@lru_cache(maxsize=16)
def _constants(cfg: rules.Config, hold: float, assumed_limit: int) -> _Constants:
    return _Constants(
        encoded(cfg.threshold), encoded(cfg.lifetime), encoded(hold), encoded(assumed_limit), encoded(cfg.max_pause)
    )


@lru_cache(maxsize=4096)
def _group_args(group: RateLimitGroup, identity: str, reserve: int) -> tuple[bytes, bytes, bytes, bytes]:
    """reserve, spec max, spec window and registry label of a bucket, encoded once."""
    return (
        encoded(reserve),
        encoded(group.max_tokens),
        encoded(float(group.window_seconds)),
        encoded(f"{group.name}\n{identity}"),
    )


def _number(value: str | None) -> str:
    """A header's number for Lua (:func:`rules.header_num`); a plain integer is sent as it came."""
    if value is None:
        return ""
    return value if value.isdigit() else rules.header_num(value)


def _error_reset(value: str | None, longest: float) -> str:
    """``X-ESI-Error-Limit-Reset`` in seconds for Lua, '' when absent or unreadable, capped by
    ``ESI_MAX_PAUSE`` (:func:`rules.pause_seconds`; a plain integer within the cap is sent as it came)."""
    if value is None:
        return ""
    if value.isdigit() and int(value) <= longest:
        return value
    seconds = rules.pause_seconds(value, "X-ESI-Error-Limit-Reset")
    return "" if seconds is None else repr(seconds)


def _raise(exc: Exception) -> Reservation:
    raise exc


def _settle_failed(exc: BaseException) -> None:
    logger.warning("Could not record an ESI answer in the shared limits (%s); its reservation lapses by itself", exc)


_lock = threading.Lock()
_limiter: RedisLimiter | None = None


def get_limiter() -> RedisLimiter:
    """The process-wide :class:`RedisLimiter` (the client uses it; it holds no connection of its own)."""
    global _limiter
    if _limiter is None:
        with _lock:
            if _limiter is None:
                _limiter = RedisLimiter()
    return _limiter


def reset_limiter() -> None:
    """Kept for tests and callers of earlier versions: the limiter keeps no local state to forget."""
    with _lock:
        if _limiter is not None:
            _limiter.close()

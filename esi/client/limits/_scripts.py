"""The limiter's Lua scripts (package data) and the one place their arguments and results are encoded.

Each script is ``common.lua`` followed by its own file. Arguments are dataclasses whose
:meth:`argv` lists them in the order the script reads ``ARGV``; results come back as
:class:`Verdict` (acquire) or :class:`Settled` (settle). Keys are built by :class:`KeySpace`:
every key shares one hash tag, so each script's keys live in one Redis Cluster slot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["AcquireArgs", "KeySpace", "SettleArgs", "Settled", "Verdict", "source"]


@cache
def source(name: str) -> bytes:
    """``common.lua`` + ``<name>.lua``, read once from the package."""
    here = files(__package__)
    return (here / "common.lua").read_bytes() + b"\n" + (here / f"{name}.lua").read_bytes()


class Verdict(enum.IntEnum):
    """What ``acquire.lua`` decided (its first return value)."""

    ADMITTED = 0
    ERROR_LIMIT_PAUSED = 1  # a 420, the threshold reached, or a pause set by any process
    BUCKET_EMPTY = 2  # the rate-limit group has no tokens left (or a 429 paused it)
    IN_FLIGHT_HOLD = 3  # the error budget left is held by requests still in flight


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Where the limiter keeps its state: ``<prefix>{<tag>}:...`` (one hash tag for every key).

    ::

        P{T}:err                  hash  remain, reset_at, limit, pause_until, reason
        P{T}:inflight             zset  error-limit unit -> expiry (a unit per request in flight)
        P{T}:groups               set   "<group>\\n<identity>" of every bucket (for snapshots)
        P{T}:rl:<group>:<ident>   zset  "<id>|<cost>" -> time spent ("?<id>|2": in flight)
        P{T}:rl:<group>:<ident>:m hash  max, window, used, pause_until
    """

    prefix: str = "esi:limits:"
    tag: str = "budget"

    @property
    def base(self) -> str:
        return f"{self.prefix}{{{self.tag}}}:"

    @property
    def err(self) -> str:
        return self.base + "err"

    @property
    def inflight(self) -> str:
        return self.base + "inflight"

    @property
    def groups(self) -> str:
        return self.base + "groups"

    def bucket(self, group: str, identity: str) -> tuple[str, str]:
        key = f"{self.base}rl:{group}:{identity}"
        return key, key + ":m"


@dataclass(frozen=True, slots=True)
class AcquireArgs:
    """``ARGV`` of ``acquire.lua``."""

    id: str
    threshold: int
    lifetime: float
    hold: float
    assumed_limit: int
    reserve: int = 0
    spec_max: int | str = ""
    spec_window: float | str = ""
    label: str = ""

    def argv(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.threshold,
            self.lifetime,
            self.hold,
            self.assumed_limit,
            self.reserve,
            self.spec_max,
            self.spec_window,
            self.label,
        )


@dataclass(frozen=True, slots=True)
class SettleArgs:
    """``ARGV`` of ``settle.lua``; numbers from headers are '' when absent or unreadable."""

    id: str
    threshold: int
    status: int
    reserved: int
    real: int
    error_remain: str
    error_reset: str
    rl_remaining: str
    rl_max: str
    rl_window: str
    retry_after: str
    no_header: bool
    label: str
    spec_max: int | str
    spec_window: float | str
    max_pause: float

    def argv(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.threshold,
            self.status,
            self.reserved,
            self.real,
            self.error_remain,
            self.error_reset,
            self.rl_remaining,
            self.rl_max,
            self.rl_window,
            self.retry_after,
            "1" if self.no_header else "0",
            self.label,
            self.spec_max,
            self.spec_window,
            self.max_pause,
        )


@dataclass(frozen=True, slots=True)
class Settled:
    """``settle.lua``'s answer: the pauses it set (seconds; 0 when none)."""

    all_paused: float
    group_paused: float

    @classmethod
    def of(cls, raw: Any) -> Settled:
        return cls(float(raw[0]), float(raw[1]))

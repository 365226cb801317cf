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
from typing import Any, NamedTuple

__all__ = ["AcquireArgs", "Arg", "KeySpace", "SettleArgs", "Settled", "Verdict", "encoded", "source"]

#: One script argument: what redis-py encodes itself, or bytes encoded already.
Arg = bytes | str | int | float


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


class AcquireArgs(NamedTuple):
    """``ARGV`` of ``acquire.lua``, in its order (a tuple: it is the argument list itself).

    Fields are what redis-py sends: ``str``/``int``/``float``, or ``bytes`` already encoded
    (:func:`encoded`; the limiter encodes what stays the same from call to call once).
    """

    id: str
    threshold: Arg
    lifetime: Arg
    hold: Arg
    assumed_limit: Arg
    reserve: Arg = 0
    spec_max: Arg = ""
    spec_window: Arg = ""
    label: Arg = ""

    def argv(self) -> tuple[Any, ...]:
        return tuple(self)


class SettleArgs(NamedTuple):
    """``ARGV`` of ``settle.lua``, in its order; numbers from headers are '' when absent or
    unreadable, ``no_header`` is "1" or "0"."""

    id: str
    threshold: Arg
    status: Arg
    reserved: Arg
    real: Arg
    error_remain: Arg
    error_reset: Arg
    rl_remaining: Arg
    rl_max: Arg
    rl_window: Arg
    retry_after: Arg
    no_header: Arg
    label: Arg
    spec_max: Arg
    spec_window: Arg
    max_pause: Arg

    def argv(self) -> tuple[Any, ...]:
        return tuple(self)


def encoded(value: Arg) -> bytes:
    """``value`` as redis-py would send it (``repr`` of a number, UTF-8 of a string)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value).encode()
    return str(value).encode()


@dataclass(frozen=True, slots=True)
class Settled:
    """``settle.lua``'s answer: the pauses it set (seconds; 0 when none)."""

    all_paused: float
    group_paused: float

    @classmethod
    def of(cls, raw: Any) -> Settled:
        return cls(float(raw[0]), float(raw[1]))

"""Listing, counting and stopping keep-fresh chains (re-exported by :mod:`esi_tasks.keep_fresh`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from esi.redis_pool import get_redis
from esi_tasks._keys import text as _text
from esi_tasks.dispatcher import DUE_KEY, chain_key

__all__ = ["START_BATCH", "Chain", "chains", "count", "count_late", "stop_all"]

logger = logging.getLogger(__name__)

#: Chains read or written per pipeline.
START_BATCH = 2000
_key = chain_key


@dataclass(frozen=True, slots=True)
class Chain:
    """One running chain, as :func:`chains` lists it."""

    chain_id: str
    operation: str
    params: dict[str, Any]
    token_id: int | None
    next_run: dt.datetime | None
    runs: int
    expires: dt.datetime | None
    etag: str | None

    @property
    def late(self) -> float:
        """Seconds its next run is overdue (0 when it is not due yet): a queue too deep, or no ticks."""
        if self.next_run is None:
            return 0.0
        return max(0.0, (dt.datetime.now(dt.UTC) - self.next_run).total_seconds())

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> Chain | None:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if "chain_id" not in fields or "call" not in fields:
            return None
        operation, kwargs = json.loads(fields["call"])
        params = {k: v for k, v in kwargs.items() if k not in ("keep_id", "token_id", "all_pages", "language")}
        return cls(
            chain_id=fields["chain_id"],
            operation=operation,
            params=params,
            token_id=kwargs.get("token_id"),
            next_run=dt.datetime.fromisoformat(fields["next_run"]) if fields.get("next_run") else None,
            runs=int(fields.get("runs", 0)),
            expires=dt.datetime.fromisoformat(fields["expires"]) if fields.get("expires") else None,
            etag=fields.get("etag"),
        )


def count() -> int:
    """How many chains run (one Redis command)."""
    return int(get_redis().zcard(DUE_KEY))


def count_late(seconds: float = 10.0) -> int:
    """How many chains were due more than ``seconds`` ago and not sent yet (one Redis command).

    Non-zero for long means the dispatcher does not tick (no worker, or its queue is stuck).
    A run sent but waiting in a deep queue is not counted (see the queue lengths for that).
    """
    return int(get_redis().zcount(DUE_KEY, "-inf", time.time() - seconds))


def chains(limit: int | None = 100, offset: int = 0, *, operation: str | None = None) -> list[Chain]:
    """Running chains in order of their next run (``limit`` None: all; ``operation``: only its)."""
    r = get_redis()
    found: list[Chain] = []
    start_at, page = offset, 1000
    while limit is None or len(found) < limit:
        members = cast(list[bytes], r.zrange(DUE_KEY, start_at, start_at + page - 1))
        if not members:
            break
        pipe = r.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(_key(_text(member)))
        for raw in pipe.execute():
            chain = Chain.from_hash(raw)
            if chain is not None and (operation is None or chain.operation == operation):
                found.append(chain)
        start_at += page
    return found if limit is None else found[:limit]


def stop_all(operation: str | None = None) -> int:
    """Stop every chain (of ``operation`` only, if given); how many were stopped.

    Pipelined by :data:`START_BATCH`; no revocation broadcast per chain: a run already sent (due
    within seconds) sees its chain is gone and stops.
    """
    r = get_redis()
    members = [_text(m) for m in cast(list[bytes], r.zrange(DUE_KEY, 0, -1))]
    stopped = 0
    for at in range(0, len(members), START_BATCH):
        batch = members[at : at + START_BATCH]
        if operation is not None:
            pipe = r.pipeline(transaction=False)
            for identity in batch:
                pipe.hget(_key(identity), "call")
            calls = pipe.execute()
            batch = [i for i, call in zip(batch, calls, strict=True) if call and json.loads(call)[0] == operation]
        if not batch:
            continue
        pipe = r.pipeline(transaction=False)
        for identity in batch:  # one key per DEL: a cluster pipeline splits nothing
            pipe.delete(_key(identity))
        pipe.zrem(DUE_KEY, *batch)
        stopped += int(pipe.execute()[-1])
    logger.info("keep-fresh: %s chains stopped", stopped)
    return stopped

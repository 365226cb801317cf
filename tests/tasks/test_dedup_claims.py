"""Dedup claims are redis-py Locks: owned by their task, pending until confirmed, expiring by themselves."""

from __future__ import annotations

from typing import Any

import pytest
from redis.lock import Lock

from esi_tasks import dedup


def test_a_claim_is_a_redis_py_lock_owned_by_its_task(redis_client: Any) -> None:
    key = dedup.queued_key("x")
    assert dedup.claim(key, "task-1", 30) is None
    lock = dedup._owned(key, "task-1", 30)
    assert isinstance(lock, Lock) and lock.owned() and lock.token and lock.token.startswith("task-1 ")
    assert dedup.claim(key, "task-2", 30) == "task-1"  # the holder is named
    assert dedup.release(key, "task-2") is False and dedup.extend(key, "task-2", 60) is False
    assert 0 < redis_client.pttl(key) <= 30_000
    assert dedup.extend(key, "task-1", 90) is True and redis_client.pttl(key) > 60_000
    assert dedup.release(key, "task-1") is True and redis_client.get(key) is None
    assert dedup.release(key, "task-1") is False  # released once


def test_a_pending_claim_is_shared_only_once_confirmed(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "PENDING_WAIT", 0.05)
    key = dedup.queued_key("y")
    assert dedup.claim_or_holder(key, "task-1", dedup.PENDING_TTL, pending=True) is None
    assert redis_client.get(key).endswith(b" pending")
    assert dedup.claim_or_holder(key, "task-2", 30) is None  # not handed out: task-2 sends its own
    assert dedup.confirm(key, "task-1", 300) is True
    assert not redis_client.get(key).endswith(b" pending") and redis_client.pttl(key) > 200_000
    holder, age = dedup.claim_or_holder(key, "task-3", 30)  # type: ignore[misc]
    assert holder == "task-1" and age is not None and age < 60
    assert dedup.confirm(key, "task-1", 300) is False  # nothing pending any more


def test_another_process_releases_by_task_id_alone(redis_client: Any) -> None:
    """The worker, a revoked or a rejected message know only the task id: the token is read first."""
    key = dedup.queued_key("z")
    assert dedup.claim(key, "task-1", 30) is None
    dedup._held.clear()  # as in another process
    assert dedup.extend(key, "task-1", 120) is True and redis_client.pttl(key) > 60_000
    assert dedup.release(key, "task-1") is True and redis_client.get(key) is None


def test_a_stale_held_token_falls_back_to_the_one_in_redis(redis_client: Any) -> None:
    key = dedup.running_key("w")
    assert dedup.claim(key, "task-1", 30) is None
    redis_client.set(key, "task-1 12.000")  # the same task claimed it again elsewhere (redelivered)
    assert dedup.release(key, "task-1") is True and redis_client.get(key) is None


def test_a_redelivered_task_recognises_its_own_claim(redis_client: Any) -> None:
    key = dedup.running_key("v")
    redis_client.set(key, "task-1 12.000", px=5_000)
    dedup._held.clear()
    assert dedup.claim(key, "task-1", 60) is None  # ours: kept, lifetime renewed
    assert redis_client.pttl(key) > 30_000 and dedup.holder(key) == "task-1"


def test_sending_drops_the_claim_when_the_message_was_not_sent(redis_client: Any) -> None:
    with pytest.raises(RuntimeError), dedup.sending("u", "task-1", 300) as found:
        assert found is None and dedup.holder(dedup.queued_key("u")) == "task-1"
        raise RuntimeError("the broker refused it")
    assert redis_client.get(dedup.queued_key("u")) is None
    with dedup.sending("u", "task-2", 300) as found:
        assert found is None
    with dedup.sending("u", "task-3", 300) as found:
        assert found is not None and found[0] == "task-2"  # confirmed: shared
    assert redis_client.pttl(dedup.queued_key("u")) > 200_000


def test_running_holds_the_claim_for_the_block(redis_client: Any) -> None:
    key = dedup.running_key("t")
    with dedup.running("t", "task-1", 60) as other:
        assert other is None and dedup.holder(key) == "task-1"
        with dedup.running("t", "task-2", 60) as second:
            assert second == "task-1"
        assert dedup.holder(key) == "task-1"  # the copy did not release ours
    assert redis_client.get(key) is None

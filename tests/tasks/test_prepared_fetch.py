"""A fetch is prepared once: one spec lookup for the call, one validation, the prepared call's
cache key as the running claim's identity (counted in a real worker)."""

from __future__ import annotations

from typing import Any

import pytest

from esi.client import _client, _spec
from esi_tasks import dedup
from esi_tasks.tasks import fetch_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"lookups": 0, "validations": 0}
    get, validate = _spec.SpecIndex.get, _client.validate_params

    def counting_get(self: Any, name: str) -> Any:
        counts["lookups"] += 1
        return get(self, name)

    def counting_validate(*args: Any) -> Any:
        counts["validations"] += 1
        return validate(*args)

    monkeypatch.setattr(_spec.SpecIndex, "get", counting_get)
    monkeypatch.setattr(_client, "validate_params", counting_validate)
    return counts


def test_a_fetch_validates_once_and_looks_its_operation_up_at_most_thrice(threads_worker, esi_sim, counted) -> None:
    data = fetch_endpoint.apply_async(("GetCharactersDetail",), {"character_id": 90000001}, dedup=False)
    assert data.get(timeout=20)["name"]
    # the worker: the queued claim's identity (from the message), prepare(), and the 403/404
    # memory's key (esi_tasks.errors_memory); no other layer looks the operation up again
    assert counted["validations"] == 1
    assert counted["lookups"] <= 3


def test_the_running_claim_is_keyed_by_the_cache_key(threads_worker, esi_sim, monkeypatch) -> None:
    keys: list[str] = []
    claim = dedup.claim

    def recording_claim(key: str, task_id: str, ttl: float) -> Any:
        keys.append(key)
        return claim(key, task_id, ttl)

    monkeypatch.setattr(dedup, "claim", recording_claim)
    fetch_endpoint.apply_async(("GetStatus",), dedup=False).get(timeout=20)
    fetch_endpoint.apply_async(("get_status",), dedup=False).get(timeout=20)
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith(dedup.running_key(""))

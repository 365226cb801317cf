"""One backoff formula for the client, SSO and the tasks (esi._backoff.exponential)."""

from __future__ import annotations

import pytest

from esi import _backoff
from esi.client import RetryPolicy
from esi_tasks.tasks import fetch_endpoint


def test_the_formula() -> None:
    assert [_backoff.exponential(n, base=1, rand=lambda: 0.0) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert _backoff.exponential(2, base=1, jitter=0.1, rand=lambda: 1.0) == pytest.approx(4.4)
    assert _backoff.exponential(10, base=5, cap=600, jitter=0.0) == 600.0
    assert _backoff.exponential(-3, base=2, jitter=0.0) == 2.0


def test_the_client_the_tasks_and_sso_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, dict[str, object]]] = []

    def recording(attempt: int, **kwargs: object) -> float:
        calls.append((attempt, kwargs))
        return 0.25

    from esi.client import _retry
    from esi.sso import _http
    from esi_tasks import base

    for module in (_retry, base, _http):
        monkeypatch.setattr(module, "exponential", recording)
    assert RetryPolicy(wait_exponent=1).delay(2) == 0.25
    assert fetch_endpoint.backoff(3) == 0.25
    assert calls[0][0] == 2 and calls[0][1]["base"] == 1.0
    assert calls[1] == (3, {"base": 5.0, "cap": 600.0, "jitter": 0.5})
    slept: list[float] = []
    monkeypatch.setattr(_http.time, "sleep", slept.append)
    answers = iter([_http.RetryableStatus(503), _http.RetryableStatus(502), "done"])

    def sso_call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert _http.retrying("token refresh", sso_call) == "done"
    assert slept == [0.25, 0.25] and [a for a, _ in calls[2:4]] == [0, 1]


def test_the_wait_limit_is_per_context() -> None:
    assert _backoff.in_process_wait_limit() is None
    with _backoff.waiting_at_most(5):
        assert _backoff.in_process_wait_limit() == 5.0
        with _backoff.waiting_at_most(None):
            assert _backoff.in_process_wait_limit() is None
    assert _backoff.in_process_wait_limit() is None

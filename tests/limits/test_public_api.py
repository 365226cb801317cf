"""The public surface of esi.client.limits is pinned."""

import esi.client.limits as limits
from esi.client.limits import _model, _redis, _rules


def test_limits_all_is_sorted_and_pinned() -> None:
    assert limits.__all__ == sorted(limits.__all__)
    assert limits.__all__ == [
        "Limiter",
        "NullLimiter",
        "Pending",
        "RateLimitGroup",
        "RedisLimiter",
        "Reservation",
        "RoundTrip",
        "cost_of",
        "downtime_remaining",
        "get_limiter",
        "pause_seconds",
        "reset_limiter",
        "retry_countdown",
    ]
    defined = {n: getattr(m, n) for m in (_model, _redis, _rules) for n in m.__all__}
    for name in limits.__all__:
        assert getattr(limits, name) is defined[name]


def test_the_client_uses_the_process_wide_limiter() -> None:
    from esi.client import EsiClient

    assert EsiClient().limits is limits.get_limiter()

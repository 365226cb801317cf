"""The public surface of esi.client.limits is pinned."""

import esi.client.limits as limits
from esi.client import _limits


def test_limits_all_is_sorted_and_pinned() -> None:
    assert limits.__all__ == sorted(limits.__all__)
    assert limits.__all__ == [
        "Limiter",
        "RateLimitGroup",
        "Reservation",
        "cost_of",
        "downtime_remaining",
        "get_limiter",
        "reset_limiter",
        "retry_countdown",
    ]
    for name in limits.__all__:
        assert getattr(limits, name) is getattr(_limits, name)


def test_the_client_uses_the_process_wide_limiter() -> None:
    from esi.client import EsiClient

    assert EsiClient().limits is limits.get_limiter()

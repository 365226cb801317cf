"""The public surface of esi.client is pinned."""

import esi.client


def test_client_all_is_sorted_and_pinned() -> None:
    assert esi.client.__all__ == sorted(esi.client.__all__)
    assert esi.client.__all__ == [
        "EsiClient",
        "EsiResponse",
        "Limiter",
        "Operation",
        "Parameter",
        "PreparedCall",
        "RateLimitGroup",
        "RequestBody",
        "RetryPolicy",
        "SpecIndex",
        "get_client",
        "get_spec",
        "is_retry_safe",
        "reset_client",
    ]
    for name in esi.client.__all__:
        assert getattr(esi.client, name) is not None


def test_get_client_is_process_wide() -> None:
    assert esi.client.get_client() is esi.client.get_client()

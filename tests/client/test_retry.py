"""Backoff: 502-504, timeouts and dropped connections are retried with the documented waits; 4xx and 500 never."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from esi.client import EsiClient, RetryPolicy
from esi.exceptions import EsiConnectionError, EsiServerError, EsiTimeout

from .conftest import RecordingLimiter

FITTINGS = "esi-fittings.write_fittings.v1"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_server_errors_are_retried_then_raised(
    client: EsiClient, esi_sim: Any, sleeps: list[float], status: int
) -> None:
    esi_sim.configure_route("GetStatus", status=status)
    with pytest.raises(EsiServerError) as info:
        client.call("GetStatus")
    assert info.value.status == status
    assert esi_sim.stats()["by_route"]["GetStatus"] == {str(status): 4}  # 1 + ESI_SERVER_ERROR_MAX_RETRIES
    assert sleeps == [1.0, 2.0, 4.0]  # EXPONENT * 2**n


def test_a_500_is_raised_at_once(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", status=500)
    with pytest.raises(EsiServerError) as info:
        client.call("GetStatus")
    assert info.value.status == 500 and sleeps == []
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"500": 1}  # as django-esi 10: one request


@override_settings(ESI_SERVER_ERROR_MAX_RETRIES=2, ESI_SERVER_ERROR_WAIT_EXPONENT=0.5)
def test_retry_settings_are_honoured(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", status=502)
    with pytest.raises(EsiServerError):
        client.call("GetStatus")
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"502": 3}
    assert sleeps == [0.5, 1.0]


def test_jitter_is_at_most_ten_percent() -> None:
    policy = RetryPolicy(max_retries=3, wait_exponent=1, rand=lambda: 0.999)
    assert 4.0 < policy.delay(2) < 4.4


def test_recovers_when_the_server_comes_back(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route("GetStatus", status=503)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            esi_sim.configure_route("GetStatus", status=None)

    client = EsiClient(limiter=RecordingLimiter(), retry=RetryPolicy(sleep=sleep, rand=lambda: 0.0))
    r = client.call("GetStatus")
    assert r.status == 200 and waits == [1.0, 2.0]
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 2, "200": 1}


def test_retry_after_is_honoured(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", status=503, retry_after=3)
    with pytest.raises(EsiServerError):
        client.call("GetStatus")
    assert sleeps == [3.0, 3.0, 3.0]


def test_long_retry_after_is_left_to_the_caller(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", status=503, retry_after=600)
    with pytest.raises(EsiServerError) as info:
        client.call("GetStatus")
    assert sleeps == [] and info.value.headers["retry-after"] == "600"
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 1}


@override_settings(ESI_REQUESTS_READ_TIMEOUT=0.2)
def test_timeouts_are_retried(client: EsiClient, esi_sim: Any, sleeps: list[float], limiter: Any) -> None:
    esi_sim.configure_route("GetStatus", hang=True)
    with pytest.raises(EsiTimeout) as info:
        client.call("GetStatus")
    assert info.value.__cause__ is not None
    assert sleeps == [1.0, 2.0, 4.0]
    assert limiter.settled == [0, 0, 0, 0]  # every attempt was reported, without a response


def test_dropped_connections_are_retried(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", drop=True)
    with pytest.raises(EsiConnectionError):
        client.call("GetStatus")
    assert sleeps == [1.0, 2.0, 4.0]


def test_lookup_posts_are_retried(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("PostUniverseNames", status=503)
    with pytest.raises(EsiServerError):
        client.call("PostUniverseNames", body=[90000001])
    assert esi_sim.stats()["by_route"]["PostUniverseNames"] == {"503": 4}


def test_write_posts_are_not_retried(client: EsiClient, esi_sim: Any, sleeps: list[float], make_token: Any) -> None:
    token = make_token(90000001, [FITTINGS])
    esi_sim.configure_route("PostCharactersCharacterIdFittings", status=502)
    with pytest.raises(EsiServerError):
        client.call(
            "PostCharactersCharacterIdFittings",
            character_id=90000001,
            token=token,
            body={"name": "x", "description": "y", "ship_type_id": 587, "items": []},
        )
    assert esi_sim.stats()["by_route"]["PostCharactersCharacterIdFittings"] == {"502": 1}
    assert sleeps == []


def test_client_errors_are_never_retried(client: EsiClient, esi_sim: Any, sleeps: list[float]) -> None:
    esi_sim.configure_route("GetStatus", status=400)
    with pytest.raises(Exception):
        client.call("GetStatus")
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"400": 1} and sleeps == []

"""Remembered 403/404: the same fetch is answered from memory, ESI is not asked again."""

from __future__ import annotations

import time

import pytest

from esi.exceptions import EsiForbidden, EsiNotFound, EsiServerError
from esi_tasks import errors_memory
from esi_tasks.fetching import fetch
from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_404_is_remembered_and_not_asked_again(esi_sim, redis_client, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    esi_sim.configure_route("GetCharactersDetail", status=404)
    with pytest.raises(EsiNotFound) as first:
        fetch("GetCharactersDetail", params={"character_id": 90000001})
    with pytest.raises(EsiNotFound, match="remembered") as second:
        fetch("GetCharactersDetail", params={"character_id": 90000001})
    assert second.value.status == 404 and first.value.status == 404
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 1}
    # other parameters are asked
    with pytest.raises(EsiNotFound):
        fetch("GetCharactersDetail", params={"character_id": 90000002})
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 2}


def test_memory_expires_after_the_timeout(esi_sim, redis_client, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 1
    esi_sim.configure_route("GetCharactersDetail", status=404)
    with pytest.raises(EsiNotFound):
        fetch("GetCharactersDetail", params={"character_id": 90000001})
    time.sleep(1.2)
    esi_sim.configure_route("GetCharactersDetail", status=None)
    outcome = fetch("GetCharactersDetail", params={"character_id": 90000001})
    assert outcome.data["name"]


def test_403_is_remembered_per_character(esi_sim, redis_client, settings, make_token):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    make_token(90000001, ["esi-assets.read_assets.v1"])
    make_token(90000002, ["esi-assets.read_assets.v1"])
    esi_sim.configure_route("GetCharactersCharacterIdAssets", status=403)
    for _ in range(2):
        with pytest.raises(EsiForbidden):
            fetch("GetCharactersCharacterIdAssets", params={"character_id": 90000001})
    with pytest.raises(EsiForbidden):
        fetch("GetCharactersCharacterIdAssets", params={"character_id": 90000002})
    assert esi_sim.stats()["by_route"]["GetCharactersCharacterIdAssets"] == {"403": 2}


def test_server_errors_are_not_remembered(esi_sim, redis_client, settings):
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 0
    esi_sim.configure_route("GetStatus", status=503)
    for _ in range(2):
        with pytest.raises(EsiServerError):
            fetch("GetStatus")
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 2}


def test_zero_timeout_turns_memory_off(esi_sim, redis_client, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 0
    esi_sim.configure_route("GetCharactersDetail", status=404)
    for _ in range(2):
        with pytest.raises(EsiNotFound):
            fetch("GetCharactersDetail", params={"character_id": 90000001})
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 2}


def test_forget_asks_again(esi_sim, redis_client, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    esi_sim.configure_route("GetCharactersDetail", status=404)
    with pytest.raises(EsiNotFound):
        fetch("GetCharactersDetail", params={"character_id": 90000001})
    errors_memory.forget("GetCharactersDetail", {"character_id": 90000001}, None)
    with pytest.raises(EsiNotFound):
        fetch("GetCharactersDetail", params={"character_id": 90000001})
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 2}


def test_remembered_error_fails_the_task_at_once(threads_worker, esi_sim, settings, published, received_signals):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    esi_sim.configure_route("GetCharactersDetail", status=404)
    with pytest.raises(EsiNotFound):
        fetch_endpoint.delay("GetCharactersDetail", character_id=90000001).get(timeout=20)
    second = fetch_endpoint.delay("GetCharactersDetail", character_id=90000001)
    with pytest.raises(EsiNotFound, match="remembered"):
        second.get(timeout=20)
    assert len(published.of(second.id)) == 1
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 1}
    wait_for(lambda: len(received_signals["failed"]) == 2, timeout=5)  # sent after the failure is stored

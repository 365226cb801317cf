"""Token pools for corporation routes (#18): the directors of a corporation take turns, a 403 for a
missing role hands over to the next one (remembered), and no one left is a clear error.

Real HTTP to the simulator (which knows each character's corporation and roles), real Redis, the
fetches through ``fetch_endpoint`` in a real worker.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import timezone

from esi.client import get_client
from esi.exceptions import NoCorporationTokenError, NoTokenError, RedisUnavailable
from esi.tokens import Pool, forget_refusals, pool_refusals
from esi_tasks.tasks import fetch_endpoint
from esi_tasks.tokens import required_roles, resolve_token
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

CORP = 98000010
DIRECTORS = (90000021, 90000022, 90000023)
WALLETS = "esi-wallet.read_corporation_wallets.v1"
JOURNAL = "GetCorporationsCorporationIdWalletsDivisionJournal"


@pytest.fixture
def directors(esi_sim, make_token):
    """Three characters of CORP holding the wallet scope (the simulator gives them every role),
    and one of another corporation who must never be used."""
    for n, cid in enumerate(DIRECTORS, 1):
        esi_sim.add_character(cid, name=f"Director {n}", corporation_id=CORP)
    esi_sim.add_character(90000029, name="Outsider", corporation_id=98000011)
    make_token(90000029, [WALLETS])
    return {cid: make_token(cid, [WALLETS]) for cid in DIRECTORS}


def journal(division: int, **options):
    return fetch_endpoint.delay(JOURNAL, corporation_id=CORP, division=division, **options)


def requesters(esi_sim, status: int | None = None) -> list[int]:
    return [e["character_id"] for e in esi_sim.request_log(JOURNAL) if status is None or e["status"] == status]


def test_roles_come_from_the_spec():
    op = get_client().spec.get(JOURNAL)
    assert required_roles(op) == ("Accountant", "Junior_Accountant")
    assert required_roles(get_client().spec.get("GetCharactersCharacterIdAssets")) == ()


def test_three_directors_take_turns_and_a_turn_keeps_the_cache(threads_worker, esi_sim, directors):
    for division in (1, 2, 3):
        journal(division).get(timeout=20)
    first_three = requesters(esi_sim)
    assert sorted(first_three) == sorted(DIRECTORS)  # each director served one request
    journal(1).get(timeout=20)  # the same request again: same turn, answered from its cache
    assert requesters(esi_sim) == first_three
    journal(4).get(timeout=20)  # the next request: the turn has gone round to the first again
    assert requesters(esi_sim) == [*first_three, first_three[0]]
    assert 90000029 not in requesters(esi_sim)


def test_the_turn_is_shared_by_every_process(threads_worker, esi_sim, directors):
    op = get_client().spec.get(JOURNAL)
    here = resolve_token(op, {"corporation_id": CORP, "division": 5})  # this process
    journal(6).get(timeout=20)  # the worker takes the next turn
    after = resolve_token(op, {"corporation_id": CORP, "division": 7})
    picked = [here.character_id, requesters(esi_sim)[0], after.character_id]
    assert sorted(picked) == sorted(DIRECTORS)


def test_a_director_without_the_role_is_skipped_and_remembered(threads_worker, esi_sim, directors):
    lacking = DIRECTORS[1]
    esi_sim.set_roles(lacking, ["Diplomat"])
    for division in (1, 2, 3, 4, 5, 6):
        assert isinstance(journal(division).get(timeout=20), list)  # every fetch served
    assert requesters(esi_sim, 403) == [lacking]  # refused once, then skipped
    served = requesters(esi_sim, 200)
    assert len(served) == 6 and set(served) == {DIRECTORS[0], DIRECTORS[2]}
    pool = Pool(CORP, JOURNAL, roles=("Accountant", "Junior_Accountant"))
    reason = pool_refusals(pool, list(DIRECTORS))
    assert list(reason) == [lacking] and "required role" in reason[lacking]


def test_a_refusal_is_tried_again_once_forgotten_or_expired(threads_worker, esi_sim, directors, redis_client):
    lacking = DIRECTORS[0]
    esi_sim.set_roles(lacking, [])
    with override_settings(ESI_TOKEN_POOL_REFUSAL_TIMEOUT=120):
        for division in (1, 2, 3):
            journal(division).get(timeout=20)
        keys = list(redis_client.scan_iter(match=f"esi:pool:{{{CORP}}}:refused:*"))
        assert len(keys) == 1 and 0 < redis_client.ttl(keys[0]) <= 120  # re-tried after a while
    esi_sim.set_roles(lacking, None)  # the role was granted in game
    assert forget_refusals(CORP) == 1
    for division in (4, 5, 6):
        journal(division).get(timeout=20)
    assert requesters(esi_sim, 403) == [lacking]
    assert requesters(esi_sim, 200)[-3:].count(lacking) == 1  # back in the rotation


def test_a_refusal_expires_and_the_director_is_tried_again(threads_worker, esi_sim, directors, redis_client):
    """No forget_refusals: after ESI_TOKEN_POOL_REFUSAL_TIMEOUT the refused director gets turns again."""
    lacking = DIRECTORS[2]
    esi_sim.set_roles(lacking, [])
    refused = f"esi:pool:{{{CORP}}}:refused:*"
    with override_settings(ESI_TOKEN_POOL_REFUSAL_TIMEOUT=1):
        for division in (1, 2, 3):
            assert isinstance(journal(division).get(timeout=20), list)
        before = requesters(esi_sim, 403)
        assert before and set(before) == {lacking}
        wait_for(lambda: not list(redis_client.scan_iter(match=refused)), timeout=15)  # expired in Redis
        for division in (4, 5, 6):  # three new requests: every director's turn comes once
            assert isinstance(journal(division).get(timeout=20), list)
    after = requesters(esi_sim, 403)
    assert len(after) > len(before) and set(after) == {lacking}  # asked ESI again, still refused
    assert len(requesters(esi_sim, 200)) == 6


def test_none_can_serve_names_corporation_operation_roles_and_scopes(threads_worker, esi_sim, directors):
    for cid in DIRECTORS:
        esi_sim.set_roles(cid, ["Diplomat"])
    with pytest.raises(NoCorporationTokenError) as caught:
        journal(1).get(timeout=20)
    assert sorted(requesters(esi_sim, 403)) == sorted(DIRECTORS)  # each tried once, in one fetch
    exc = caught.value  # as the result backend hands it back
    message = str(exc)
    for part in (f"corporation {CORP}", JOURNAL, "Accountant, Junior_Accountant", WALLETS, "forget_refusals"):
        assert part in message
    assert (exc.corporation_id, exc.operation, exc.refused) == (CORP, JOURNAL, DIRECTORS)
    assert exc.roles == ("Accountant", "Junior_Accountant") and exc.scopes == (WALLETS,)
    assert isinstance(exc, NoTokenError)  # code catching NoTokenError keeps working
    with pytest.raises(NoCorporationTokenError):
        journal(2).get(timeout=20)  # all remembered: no request to ESI at all
    assert len(requesters(esi_sim)) == 3


def test_no_member_holds_the_scope(esi_sim, redis_client, make_token):
    esi_sim.add_character(90000031, corporation_id=CORP)
    make_token(90000031, ["esi-assets.read_corporation_assets.v1"])
    op = get_client().spec.get(JOURNAL)
    with pytest.raises(NoCorporationTokenError, match=r"no member of the corporation has a stored token") as caught:
        resolve_token(op, {"corporation_id": CORP, "division": 1})
    assert caught.value.refused == ()


def test_a_token_sso_refuses_hands_over_to_the_next_director(threads_worker, esi_sim, directors):
    dead = directors[DIRECTORS[0]]
    esi_sim.revoke_refresh_token(dead.refresh_token)
    dead.access_token_expires = timezone.now()  # must be refreshed first: SSO refuses
    dead.save()
    for division in (1, 2, 3):
        journal(division).get(timeout=20)
    assert DIRECTORS[0] not in requesters(esi_sim)
    assert len(requesters(esi_sim)) == 3


def test_redis_away_is_a_documented_error_not_a_redis_one(esi_sim, redis_client, directors, settings):
    op = get_client().spec.get(JOURNAL)
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: the client's cache is the data path
    settings.ESI_REDIS_RETRIES = 0  # a refused connection fails at once
    with pytest.raises(RedisUnavailable):
        resolve_token(op, {"corporation_id": CORP, "division": 1})
    assert esi_sim.stats()["total"] == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_turns_are_shared_by_prefork_children(prefork_worker, esi_sim, directors):
    """Two worker processes running six different fetches at once: each director serves exactly two."""
    results = [journal(division) for division in range(1, 7)]
    assert all(isinstance(r.get(timeout=60), list) for r in results)
    assert sorted(requesters(esi_sim, 200)) == sorted(DIRECTORS * 2)
    assert len(esi_sim.request_log(JOURNAL)) == 6

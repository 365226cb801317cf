"""The pool pick when Redis does not answer: its state (turns, refusals) is bookkeeping, so the
first candidate serves, a refusal is not remembered, and no raw redis error comes out.

Real SSO simulator and tokens in the database; Redis is "away" by pointing ``ESI_REDIS_URL`` at
a port nothing listens on (a refused connection, failed at once with ``ESI_REDIS_RETRIES = 0``).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from esi.exceptions import NoCorporationTokenError, RedisUnavailable
from esi.redis_pool import reset_redis
from esi.tokens import Pool, pick_from_pool, pool_refusals, refuse_in_pool

pytestmark = pytest.mark.django_db

CORP = 98000010
WALLETS = "esi-wallet.read_corporation_wallets.v1"
POOL = Pool(CORP, "GetCorporationsCorporationIdWalletsDivisionJournal", roles=("Accountant",), scopes=(WALLETS,))


@pytest.fixture
def make_member(sso: Any, make_token: Any) -> Any:
    def make(character_id: int, expired: bool = False) -> Any:
        sso.add_character(character_id, corporation_id=CORP)
        return make_token(character_id, [WALLETS], expired=expired)

    return make


@pytest.fixture
def redis_away(settings: Any) -> Any:
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    yield
    reset_redis()


def test_the_first_candidate_serves_and_nothing_is_remembered(make_member: Any, redis_away: Any, caplog: Any) -> None:
    tokens = [make_member(cid) for cid in (90000023, 90000021, 90000022)]
    caplog.set_level(logging.WARNING, logger="esi.tokens")
    picked = [pick_from_pool(POOL, tokens, f"request-{n}").character_id for n in range(3)]
    assert picked == [90000021] * 3  # no shared turn: the first member (by character id) serves
    assert refuse_in_pool(POOL, 90000021, "Character lacks the required role") is False
    assert pool_refusals(POOL, [90000021, 90000022]) == {}
    assert pick_from_pool(POOL, tokens, "request-3").character_id == 90000021  # the refusal was not kept
    assert "no shared turn (ConnectionError)" in caplog.text
    assert "refusals not read (ConnectionError)" in caplog.text


def test_a_token_that_needs_its_lock_hands_over_to_a_fresh_one(make_member: Any, redis_away: Any) -> None:
    """Refreshing needs the token's Redis lock (the data path): that token cannot serve now, the
    next member's still-valid token does."""
    expired = make_member(90000021, expired=True)
    fresh = make_member(90000022)
    assert pick_from_pool(POOL, [expired, fresh], "request").pk == fresh.pk


def test_only_tokens_that_need_their_lock_is_redis_unavailable_not_none_can_serve(
    make_member: Any, redis_away: Any
) -> None:
    tokens = [make_member(cid, expired=True) for cid in (90000021, 90000022)]
    with pytest.raises(RedisUnavailable) as caught:
        pick_from_pool(POOL, tokens, "request")
    assert not isinstance(caught.value, NoCorporationTokenError)  # worth a retry: the tokens are fine

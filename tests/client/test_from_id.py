"""from_id operations are walked backwards from the newest record."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from esi.client import EsiClient

WALLET = "esi-wallet.read_character_wallet.v1"
MAIL = "esi-mail.read_mail.v1"
OP = "GetCharactersCharacterIdWalletTransactions"


def test_from_id_walk_collects_the_whole_history(client: EsiClient, esi_sim: Any, make_token: Any) -> None:
    token = make_token(90000001, [WALLET])
    first = client.call(OP, character_id=90000001, token=token)
    assert len(first.data) == 10
    r = client.call(OP, character_id=90000001, token=token, all_pages=True)
    ids = [rec["transaction_id"] for rec in r.data]
    assert len(ids) == 30 and ids == sorted(set(ids), reverse=True)  # newest first, no duplicates
    log = esi_sim.request_log(OP)
    # the newest page (then served from cache to the walk), then each older step, then the empty one
    assert "from_id" not in parse_qs(log[0]["query"])
    assert [parse_qs(e["query"])["from_id"] for e in log[1:]] == [[str(ids[9])], [str(ids[19])], [str(ids[29])]]


def test_last_mail_id_walk(client: EsiClient, esi_sim: Any, make_token: Any) -> None:
    esi_sim.configure_route("GetCharactersCharacterIdMail", pages=2)
    token = make_token(90000001, [MAIL])
    r = client.call("GetCharactersCharacterIdMail", character_id=90000001, token=token, all_pages=True)
    assert len(r.data) == 20 and len({m["mail_id"] for m in r.data}) == 20

"""Token.objects: scope filters, expiry, require_valid and bulk_refresh against the simulator."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from esi.exceptions import TokenInvalidError
from esi.models import Scope, Token
from tests.sso.fixtures import ASSETS, SKILLS, WALLET

pytestmark = pytest.mark.django_db


def pks(qs) -> list[int]:
    return sorted(qs.values_list("pk", flat=True))


@pytest.fixture
def three(make_token):
    return (
        make_token(90000001, [ASSETS]),
        make_token(90000002, [ASSETS, WALLET]),
        make_token(90000003, [ASSETS, WALLET, SKILLS]),
    )


def test_require_scopes_accepts_strings_lists_and_scope_objects(three) -> None:
    a, b, c = three
    assert pks(Token.objects.require_scopes(ASSETS)) == [a.pk, b.pk, c.pk]
    assert pks(Token.objects.require_scopes(f"{ASSETS} {WALLET}")) == [b.pk, c.pk]
    assert pks(Token.objects.require_scopes([WALLET, SKILLS])) == [c.pk]
    assert pks(Token.objects.require_scopes(Scope.objects.filter(name=WALLET))) == [b.pk, c.pk]
    assert pks(Token.objects.require_scopes([])) == []  # as in django-esi: tokens without scopes
    assert pks(Token.objects.require_scopes("esi-unknown.v1")) == []
    assert pks(Token.objects.filter(character_id=90000003).require_scopes(ASSETS)) == [c.pk]


def test_require_no_scopes_finds_tokens_without_scopes(three, make_token) -> None:
    bare = make_token(90000002, [])
    for empty in ("", [], None):
        assert pks(Token.objects.require_scopes(empty)) == [bare.pk]
    assert pks(Token.objects.require_scopes_exact("")) == [bare.pk]


def test_require_scopes_exact(three) -> None:
    a, b, c = three
    assert pks(Token.objects.require_scopes_exact(ASSETS)) == [a.pk]
    assert pks(Token.objects.require_scopes_exact([WALLET, ASSETS])) == [b.pk]
    assert pks(Token.objects.require_scopes_exact(c.scopes.all())) == [c.pk]


def test_for_character_and_equivalent_to(make_token, django_user_model) -> None:
    user = django_user_model.objects.create_user("pilot")
    first = make_token(90000001, [ASSETS], user=user)
    twin = Token.objects.create(
        character_id=90000001,
        character_name="Harness Pilot One",
        character_owner_hash="owner-hash-one",
        access_token="y",
        refresh_token="z",
        user=None,
    )
    twin.scopes.set(first.scopes.all())
    make_token(90000001, [ASSETS, WALLET], user=user)
    make_token(90000002, [ASSETS], user=user)
    assert len(pks(Token.objects.for_character(90000001))) == 3
    assert pks(Token.objects.for_character(90000001, owner_hash="nobody")) == []
    assert pks(Token.objects.equivalent_to(first)) == [twin.pk]


def test_get_expired_includes_unknown_expiry_older_than_an_access_tokens_life(make_token) -> None:
    fresh = make_token(90000001)
    old = make_token(90000002, expired=True)
    migrated = make_token(90000003)  # a django-esi 10 row: no expiry, created long ago
    just_made = make_token(90000001)  # created by django-esi 10 code, without an expiry
    Token.objects.filter(pk__in=[migrated.pk, just_made.pk]).update(access_token_expires=None)
    Token.objects.filter(pk=migrated.pk).update(created=timezone.now() - dt.timedelta(minutes=21))
    assert pks(Token.objects.get_expired()) == [old.pk, migrated.pk]
    assert fresh.pk not in pks(Token.objects.get_expired())
    migrated.refresh_from_db()
    just_made.refresh_from_db()
    assert migrated.expired and migrated.needs_refresh
    assert not just_made.expired and just_made.expires == just_made.created + dt.timedelta(seconds=1199)


def test_require_valid_refreshes_and_drops_what_fails(sso, make_token) -> None:
    fresh = make_token(90000001, [ASSETS])
    stale = make_token(90000002, [ASSETS], expired=True)
    dead = make_token(90000003, [ASSETS], expired=True)
    sso.revoke_refresh_token(dead.refresh_token)
    orphan = make_token(90000001, [ASSETS, WALLET], expired=True)
    Token.objects.filter(pk=orphan.pk).update(refresh_token=None)

    valid = Token.objects.require_scopes(ASSETS).require_valid()
    assert pks(valid) == [fresh.pk, stale.pk]
    assert Token.objects.get(pk=stale.pk).access_token_expires > timezone.now() + dt.timedelta(minutes=15)
    assert not Token.objects.filter(pk=dead.pk).exists()  # refused by SSO: deleted
    assert Token.objects.filter(pk=orphan.pk).exists()  # not refreshable: kept, left out
    assert sso.stats()["sso"]["token_refresh_token"] == 2


def test_require_valid_refreshes_through_the_model_s_refresh(sso, make_token, monkeypatch) -> None:
    """As django-esi 10: apps' tests patch ``Token.refresh`` and expect require_valid to obey it."""
    stale = make_token(90000002, [ASSETS], expired=True)
    refused: list[int] = []

    def refuse(self: Token, *args: object, **kwargs: object) -> None:
        refused.append(self.pk)
        raise TokenInvalidError("refused by the patch")

    monkeypatch.setattr(Token, "refresh", refuse)
    assert pks(Token.objects.require_scopes(ASSETS).require_valid()) == []
    assert refused == [stale.pk]
    assert not Token.objects.filter(pk=stale.pk).exists()  # refused: deleted, as SSO's own refusal
    assert sso.stats()["sso"]["token_refresh_token"] == 0  # the patch was the refresh


def test_require_valid_keeps_a_still_valid_token_when_sso_is_down(sso, make_token, settings, caplog) -> None:
    settings.ESI_TOKEN_REFRESH_MARGIN = 300
    soon = make_token(90000001, expires_in=120)  # within the margin but not expired
    gone = make_token(90000002, expired=True)
    also_gone = make_token(90000003, expired=True)
    sso.configure_route("SsoToken", status=503)
    caplog.set_level(logging.WARNING, logger="esi.sso._http")
    assert pks(Token.objects.require_valid()) == [soon.pk]
    assert Token.objects.filter(pk__in=[gone.pk, also_gone.pk]).count() == 2
    gave_up = [r for r in caplog.records if "token refresh failed" in r.getMessage()]
    assert len(gave_up) == 1  # the first failure stopped the sweep: SSO was not hit for every token


def test_bulk_refresh(sso, make_token) -> None:
    a = make_token(90000001)
    b = make_token(90000002)
    dead = make_token(90000003)
    sso.revoke_refresh_token(dead.refresh_token)
    no_refresh = make_token(90000001, [WALLET])
    Token.objects.filter(pk=no_refresh.pk).update(refresh_token=None)
    before = {t.pk: t.access_token for t in Token.objects.all()}

    done = Token.objects.all().bulk_refresh()
    assert pks(done) == [a.pk, b.pk]
    assert sso.stats()["sso"]["token_refresh_token"] == 3
    assert Token.objects.get(pk=a.pk).access_token != before[a.pk]
    assert not Token.objects.filter(pk=dead.pk).exists()
    assert Token.objects.get(pk=no_refresh.pk).access_token == before[no_refresh.pk]


def test_bulk_refresh_stops_while_sso_is_down(sso, make_token, caplog) -> None:
    tokens = [make_token(cid) for cid in (90000001, 90000002, 90000003)]
    sso.configure_route("SsoToken", status=502)
    caplog.set_level(logging.WARNING)
    assert pks(Token.objects.all().bulk_refresh()) == []
    assert Token.objects.count() == 3 and all(Token.objects.filter(pk=t.pk).exists() for t in tokens)
    assert any("3 token(s) left unrefreshed" in r.getMessage() for r in caplog.records)

"""Token and Scope: state properties and no secret in str/repr."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from esi.models import CallbackRedirect, Scope, Token
from tests.sso.fixtures import ASSETS, WALLET

pytestmark = pytest.mark.django_db


def test_state_properties(make_token, settings) -> None:
    token = make_token(scopes=[WALLET, ASSETS])
    assert token.scope_names == [ASSETS, WALLET] == token.get_esi_scopes()
    assert token.expires == token.access_token_expires and not token.expired and token.can_refresh
    assert not token.needs_refresh
    settings.ESI_TOKEN_REFRESH_MARGIN = 1300
    assert token.needs_refresh and not token.expired
    token.access_token_expires = None  # stored without one: django-esi 10's created + 1199 s
    assert token.expires == token.created + dt.timedelta(seconds=1199) and not token.expired
    token.created = timezone.now() - dt.timedelta(minutes=21)
    assert token.expired and token.needs_refresh
    token.access_token_expires = timezone.now() - dt.timedelta(seconds=1)
    assert token.expired


def test_no_secret_in_str_or_repr(make_token) -> None:
    token = make_token()
    for text in (str(token), repr(token)):
        assert token.access_token not in text and token.refresh_token not in text
        assert "Harness Pilot One" in text


def test_scope_friendly_name() -> None:
    assert Scope(name=ASSETS).friendly_name == "read assets"
    assert Scope(name="publicData").friendly_name == "publicData"


def test_callback_redirect_repr_has_no_secrets() -> None:
    redirect = CallbackRedirect.objects.create(
        url="/x", session_key="s" * 32, state="the-state", code_verifier="the-verifier", requested_scopes=ASSETS
    )
    for text in (str(redirect), repr(redirect)):
        assert "the-verifier" not in text and "the-state" not in text and "s" * 32 not in text
    assert redirect.scope_list == [ASSETS] and not redirect.is_expired


def test_unsaved_token_cannot_refresh() -> None:
    from esi.exceptions import TokenError

    with pytest.raises(TokenError, match="never saved"):
        Token(character_id=1, access_token="x", refresh_token="y").valid_access_token()


def test_django_esi_10_helpers(sso, make_token) -> None:
    token = make_token(90000001, [ASSETS])
    assert Token.get_token(90000001, [ASSETS]) == token
    assert Token.get_token(90000002, [ASSETS]) is False
    old = token.access_token
    token.refresh(session=object(), auth=object())  # ignored, as documented
    assert token.access_token != old
    sso.revoke_refresh_token(token.refresh_token)
    token.refresh_or_delete()
    assert not Token.objects.filter(character_id=90000001).exists()

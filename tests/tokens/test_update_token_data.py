"""django-esi 10's ``Token.update_token_data``: the ownership check Alliance Auth runs every 4
hours asks SSO (the simulator) each time, and its errors are the ones AA's task catches."""

from __future__ import annotations

import pytest

from esi.exceptions import NotRefreshableError, SSOUnavailable, TokenInvalidError
from esi.models import Token
from tests.sso.fixtures import ASSETS


def refreshes(sso) -> int:
    return int(sso.stats()["sso"].get("token_refresh_token", 0))


@pytest.mark.django_db
def test_a_fresh_token_is_still_checked_at_sso(sso, make_token) -> None:
    token = make_token()  # valid for 20 minutes: nothing would need a refresh
    owner = token.character_owner_hash
    Token.objects.filter(pk=token.pk).update(character_name="stale name")
    token.refresh_from_db()
    before = token.access_token

    token.update_token_data(commit=False)

    assert refreshes(sso) == 1  # SSO was asked, not the cached access token
    assert token.character_name != "stale name" and token.character_owner_hash == owner
    stored = Token.objects.get(pk=token.pk)
    assert stored.character_name == "stale name"  # commit=False: the name is not saved...
    assert stored.access_token == token.access_token != before  # ...but the new tokens always are

    token.update_token_data()
    assert Token.objects.get(pk=token.pk).character_name == token.character_name
    assert refreshes(sso) == 2


@pytest.mark.django_db
def test_a_character_moved_to_another_account_is_caught(sso, make_token) -> None:
    token = make_token()
    old_hash = token.character_owner_hash
    sso.change_owner(90000001)  # every refresh token of the character dies at SSO
    with pytest.raises(TokenInvalidError):
        token.update_token_data(commit=False)
    assert not Token.objects.filter(character_owner_hash=old_hash).exists()


@pytest.mark.django_db
def test_owner_hash_seen_changed_by_sso_deletes_the_old_owners_tokens(sso, make_token) -> None:
    token = make_token()
    sso.change_owner(90000001)
    sso.accept_refresh_token(token.refresh_token, 90000001, [ASSETS])  # SSO still refreshes it
    with pytest.raises(TokenInvalidError, match="another EVE account"):
        token.update_token_data(commit=False)
    assert not Token.objects.filter(character_id=90000001).exists()


@pytest.mark.django_db
def test_without_refresh_token_the_valid_access_token_is_read(sso, make_token) -> None:
    token = make_token()
    Token.objects.filter(pk=token.pk).update(refresh_token=None, character_name="old")
    token.refresh_from_db()
    token.update_token_data()
    assert Token.objects.get(pk=token.pk).character_name != "old" and refreshes(sso) == 0

    expired = make_token(character_id=90000002, expired=True)
    Token.objects.filter(pk=expired.pk).update(refresh_token=None)
    expired.refresh_from_db()
    with pytest.raises(NotRefreshableError, match="cannot be checked"):
        expired.update_token_data()


@pytest.mark.django_db
def test_sso_down_is_the_error_alliance_auth_waits_out(sso, make_token) -> None:
    from esi.errors import IncompleteResponseError

    token = make_token()
    sso.configure_route("SsoToken", status=503)
    with pytest.raises(IncompleteResponseError) as info:
        token.update_token_data(commit=False)
    assert isinstance(info.value, SSOUnavailable)
    assert Token.objects.filter(pk=token.pk).exists()

"""Refresh tokens encrypted at rest: a database dump alone yields no usable refresh token, the
attribute stays a plain string for django-esi 10 code, and keys rotate with one command."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from esi import _crypto
from esi.exceptions import EsiConfigurationError
from esi.models import Token

pytestmark = pytest.mark.django_db

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _stored(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_token FROM esi_token WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def _database_dump() -> str:
    """Every row of every table, as text: what a backup or an SQL injection would give away."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            lines.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(lines)


def _sso_accepts(sso: Any, refresh_token: str) -> bool:
    answer = httpx.post(
        f"{sso.url}/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("test-client-id", "test-client-secret"),
    )
    return answer.status_code == 200


def test_a_database_dump_alone_yields_no_usable_refresh_token(sso: Any, make_token: Any) -> None:
    tokens = [make_token(90000001), make_token(90000002)]
    plain = [t.refresh_token for t in tokens]
    dump = _database_dump()
    out = io.StringIO()
    call_command("dumpdata", "esi.Token", stdout=out)
    for secret in plain:
        assert secret not in dump and secret not in out.getvalue()
    for token in tokens:
        stored = _stored(token.pk)
        assert stored.startswith(_crypto.PREFIX)
        assert not _sso_accepts(sso, stored) and not _sso_accepts(sso, stored[len(_crypto.PREFIX) :])
    assert _sso_accepts(sso, plain[0])  # the real one works: the check above could have failed


def test_the_attribute_stays_a_plain_string(sso: Any, make_token: Any) -> None:
    token = make_token(expired=True)
    loaded = Token.objects.get(pk=token.pk)
    assert loaded.refresh_token == token.refresh_token and type(loaded.refresh_token) is str
    loaded.refresh_token = "assigned-by-django-esi-10-code"
    loaded.save()
    assert Token.objects.get(pk=token.pk).refresh_token == "assigned-by-django-esi-10-code"
    assert Token.objects.exclude(refresh_token="").exclude(refresh_token__isnull=True).count() == 1
    assert "assigned" not in repr(loaded) + str(loaded)


def test_refresh_round_trip_stores_the_rotated_token_encrypted(sso: Any, make_token: Any) -> None:
    token = make_token(expired=True)
    old = token.refresh_token
    token.refresh()
    fresh = Token.objects.get(pk=token.pk)
    assert fresh.refresh_token != old and not fresh.expired
    assert _stored(token.pk).startswith(_crypto.PREFIX) and fresh.refresh_token not in _stored(token.pk)


def test_command_encrypts_legacy_rows_and_rotates_keys(sso: Any, make_token: Any, settings: Any) -> None:
    settings.ESI_TOKEN_ENCRYPTION = False  # rows as django-esi 10 wrote them
    token = make_token()
    plain = token.refresh_token
    assert _stored(token.pk) == plain
    settings.ESI_TOKEN_ENCRYPTION = True
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_A]
    assert Token.objects.get(pk=token.pk).refresh_token == plain  # plaintext rows stay readable
    out = io.StringIO()
    call_command("esi_encrypt_tokens", "--check", stdout=out)
    assert "1 would be rewritten" in out.getvalue() and _stored(token.pk) == plain
    call_command("esi_encrypt_tokens", stdout=out)
    assert Fernet(KEY_A).decrypt(_stored(token.pk)[len(_crypto.PREFIX) :].encode()).decode() == plain
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # rotation: the new key first
    call_command("esi_encrypt_tokens", stdout=(out := io.StringIO()))
    assert "1 refresh token(s); 1 rewritten" in out.getvalue()
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_B]  # the old key retired
    assert Token.objects.get(pk=token.pk).refresh_token == plain
    call_command("esi_encrypt_tokens", stdout=(out := io.StringIO()))
    assert "0 rewritten" in out.getvalue()


def test_a_lost_key_never_deletes_the_token(sso: Any, make_token: Any, settings: Any) -> None:
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_A]
    token = make_token(expired=True)
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_B]  # KEY_A removed by mistake
    loaded = Token.objects.get(pk=token.pk)
    assert not loaded.can_refresh and token.refresh_token not in repr(loaded.refresh_token)
    with pytest.raises(EsiConfigurationError, match="ESI_TOKEN_ENCRYPTION_KEYS"):
        loaded.valid_access_token()
    loaded.save()  # saving keeps the stored value; it does not destroy it
    assert sso.stats()["sso"].get("token_refresh_token", 0) == 0  # never sent to SSO
    err = io.StringIO()
    call_command("esi_encrypt_tokens", stdout=io.StringIO(), stderr=err)
    assert "cannot be decrypted" in err.getvalue()
    settings.ESI_TOKEN_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # the key is back: nothing was lost
    assert Token.objects.get(pk=token.pk).refresh_token == token.refresh_token


def test_command_generates_a_key() -> None:
    out = io.StringIO()
    call_command("esi_encrypt_tokens", "--generate-key", stdout=out)
    Fernet(out.getvalue().strip())  # a valid key


def test_a_bad_key_is_a_clear_configuration_error(settings: Any) -> None:
    settings.ESI_TOKEN_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(EsiConfigurationError, match="generate_key"):
        Token.objects.create(character_id=1, character_name="x", character_owner_hash="h", refresh_token="r")

"""Fixtures shared by the SSO and token tests (imported by both conftests).

``sso``: the simulator reset for the test, an empty Redis, short SSO backoff. ``make_token``:
a stored Token holding a real access token signed by the simulator, as a login stores it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.utils import timezone

from esi.models import Token
from esi.sso import TokenResponse, verify_access_token
from esi.tokens import store_login

ASSETS = "esi-assets.read_assets.v1"
WALLET = "esi-wallet.read_character_wallet.v1"
SKILLS = "esi-skills.read_skills.v1"


@pytest.fixture
def sso(esi_sim: Any, redis_client: Any, settings: Any) -> Any:
    """The simulator (SSO at ``esi_sim.url``), an empty Redis and quick retries."""
    settings.ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 2
    return esi_sim


@pytest.fixture
def make_token(sso: Any) -> Callable[..., Token]:
    def make(
        character_id: int = 90000001,
        scopes: list[str] | tuple[str, ...] = (ASSETS,),
        user: Any = None,
        expired: bool = False,
        expires_in: int = 1199,
    ) -> Token:
        issued = sso.issue_tokens(character_id, list(scopes), expires_in=expires_in)
        response = TokenResponse.from_authlib(issued)
        token, _ = store_login(response, verify_access_token(response.access_token), user)
        if expired:
            Token.objects.filter(pk=token.pk).update(access_token_expires=timezone.now() - dt.timedelta(minutes=1))
            token.refresh_from_db()
        return token

    return make


def sso_round_trip(client: Any, response: Any) -> Any:
    """Follow a redirect to the simulator's authorize endpoint like a browser, then hand the
    callback to Django's test client; returns Django's response to the callback."""
    assert response.status_code == 302, response
    location = response["Location"]
    answer = httpx.get(location, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["location"])
    return client.get(f"{callback.path}?{callback.query}")


def log_lines(caplog: Any) -> list[str]:
    """Every captured record as the handler would print it (message, args and exception)."""
    lines = []
    for record in caplog.records:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r} {record.exc_info[1]}"
        lines.append(text)
    return lines


def assert_no_secret(lines: list[str], *secrets: str | None) -> None:
    for secret in secrets:
        if secret:
            leaked = [line for line in lines if secret in line]
            assert not leaked, f"a secret was logged: {leaked[0][:200]}"

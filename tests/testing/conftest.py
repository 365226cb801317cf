"""Fixtures for the simulator's own tests: a plain httpx client on the per-test simulator."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from esi.testing import SimulatorControl

NEW = {"X-Compatibility-Date": "2026-08-04"}
ASSETS_SCOPE = "esi-assets.read_assets.v1"


@pytest.fixture
def http(esi_sim: SimulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=esi_sim.url, timeout=5) as client:
        yield client


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize(
    http: httpx.Client, scopes: str = ASSETS_SCOPE, challenge: str | None = None, **extra: str
) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": "app-id",
        "redirect_uri": "http://app.test/callback",
        "scope": scopes,
        "state": "state-123",
        **extra,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return http.get("/v2/oauth/authorize", params=params)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["location"]).query)
    assert query["state"] == ["state-123"]
    return query["code"][0]

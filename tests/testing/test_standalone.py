"""A plain httpx script logs in and pages through an operation against the standalone server."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from esi.testing import start_simulator

from .conftest import pkce_pair

SCOPE = "esi-assets.read_assets.v1"


def test_plain_httpx_login_and_paging_against_python_m_esi_testing() -> None:
    with start_simulator() as sim, httpx.Client(base_url=sim.url, timeout=5) as http:
        sim.control.configure_route("GetCharactersCharacterIdAssets", pages=4)
        meta = http.get("/.well-known/oauth-authorization-server").json()
        verifier, challenge = pkce_pair()
        redirect = http.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": "script",
                "redirect_uri": "http://localhost/cb",
                "scope": SCOPE,
                "state": "xyz",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        query = parse_qs(urlparse(redirect.headers["location"]).query)
        assert query["state"] == ["xyz"]
        tokens = http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "code_verifier": verifier,
                "client_id": "script",
            },
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        first = http.get("/characters/90000001/assets", headers=auth)
        rows = list(first.json())
        for page in range(2, int(first.headers["x-pages"]) + 1):
            r = http.get("/characters/90000001/assets", params={"page": page}, headers=auth)
            assert r.status_code == 200
            rows.extend(r.json())
        assert int(first.headers["x-pages"]) == 4 and len(rows) >= 4
        assert sim.control.stats()["by_route"]["GetCharactersCharacterIdAssets"] == {"200": 4}
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + "/status")  # stopped


def test_python_m_esi_testing_without_the_testing_extra_names_the_pip_command() -> None:
    hide_uvicorn = (
        "import runpy, sys; sys.modules['uvicorn'] = None; runpy.run_module('esi.testing', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", hide_uvicorn], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'python -m esi.testing: The ESI simulator needs uvicorn, which comes with the "testing" extra: '
        'pip install "django-esi[testing]"'
    ]

"""The browser login against the simulator: state + PKCE, code exchange, and every rejection."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from joserfc.jwk import RSAKey

from esi.models import CallbackRedirect, Token
from esi.redis_pool import get_redis
from esi.signals import token_created, token_owner_changed
from esi.sso._metadata import cache_key
from tests.sso.fixtures import ASSETS, WALLET, assert_no_secret, log_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sso")]


def start(client: Client, scopes: str = f"{ASSETS} {WALLET}", next_url: str = "/after/"):
    return client.get("/sso/login/", {"scopes": scopes, "next": next_url})


def browser_to_callback(response) -> str:
    """Let the simulator approve the login; return the callback path+query it redirects to."""
    answer = httpx.get(response["Location"], follow_redirects=False)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["location"])
    return f"{callback.path}?{callback.query}"


def test_full_login_with_state_and_pkce(sso, client: Client) -> None:
    user = User.objects.create_user("pilot")
    client.force_login(user)
    sso.set_login(90000001)
    response = start(client)

    assert response.status_code == 302
    url = urlsplit(response["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == sso.url and url.path == "/v2/oauth/authorize/"  # django-esi 10's URL
    assert query["response_type"] == "code" and query["client_id"] == "test-client-id"
    assert query["redirect_uri"] == "http://testserver/sso/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert set(query["scope"].split()) == {ASSETS, WALLET}
    pending = CallbackRedirect.objects.get(state=query["state"])
    assert pending.session_key == client.session.session_key
    assert pending.url == "/after/" and set(pending.scope_list) == {ASSETS, WALLET}
    assert len(pending.code_verifier) >= 43 and pending.code_verifier not in response["Location"]

    done = client.get(browser_to_callback(response))
    assert done.status_code == 302 and done["Location"] == "/after/"
    token = Token.objects.get()
    assert (token.character_id, token.character_name, token.character_owner_hash) == (
        90000001,
        "Harness Pilot One",
        "owner-hash-one",
    )
    assert token.user == user and token.scope_names == [ASSETS, WALLET]
    assert token.can_refresh and not token.expired and token.access_token.count(".") == 2
    assert sso.stats()["sso"]["token_authorization_code"] == 1


def test_anonymous_login_stores_a_token_without_user(sso, client: Client) -> None:
    sso.set_login(90000002, [ASSETS])
    done = client.get(browser_to_callback(start(client, ASSETS)))
    assert done.status_code == 302
    token = Token.objects.get()
    assert token.user is None and token.character_id == 90000002


def test_login_reuses_an_equivalent_token(sso, client: Client) -> None:
    events = []
    token_created.connect(lambda **kw: events.append(kw["new"]), weak=False, dispatch_uid="t-created")
    try:
        for _ in range(2):
            client.get(browser_to_callback(start(client, ASSETS)))
    finally:
        token_created.disconnect(dispatch_uid="t-created")
    assert Token.objects.count() == 1 and events == [True, False]


def test_always_create_token(sso, client: Client, settings) -> None:
    settings.ESI_ALWAYS_CREATE_TOKEN = True
    for _ in range(2):
        client.get(browser_to_callback(start(client, ASSETS)))
    assert Token.objects.count() == 2


def test_no_open_redirect(sso, client: Client, settings) -> None:
    settings.LOGIN_REDIRECT_URL = "esi:login"  # a URL name, as settings may use
    done = client.get(browser_to_callback(start(client, ASSETS, "https://evil.example/")))
    assert done.status_code == 302 and done["Location"] == "/sso/login/"


def test_a_login_without_next_returns_to_the_site_root_unless_login_redirect_url_is_set(
    sso, client: Client, settings
) -> None:
    assert settings.LOGIN_REDIRECT_URL == "/accounts/profile/"  # Django's default, as in a new project
    done = client.get(browser_to_callback(client.get("/sso/login/", {"scopes": ASSETS})))
    assert done.status_code == 302 and done["Location"] == "/"
    settings.LOGIN_REDIRECT_URL = "/home/"
    done = client.get(browser_to_callback(client.get("/sso/login/", {"scopes": ASSETS})))
    assert done.status_code == 302 and done["Location"] == "/home/"


def test_callback_without_trailing_slash_and_with_it(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    assert path.startswith("/sso/callback?")
    assert client.get(path.replace("/sso/callback?", "/sso/callback/?")).status_code == 302


def refused(response, reason: str) -> None:
    assert response.status_code == 400, response.content[:300]
    body = response.content.decode()
    assert f'data-reason="{reason}"' in body
    assert "Start the EVE login again" in body and "/sso/login/" in body


def test_replayed_callback_is_refused(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    assert client.get(path).status_code == 302
    refused(client.get(path), "reused")
    assert Token.objects.count() == 1
    assert sso.stats()["sso"]["token_authorization_code"] == 1


def test_tampered_state_is_refused(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    refused(client.get(path.replace("state=", "state=x")), "unknown")
    assert Token.objects.count() == 0 and sso.stats()["sso"].get("token_authorization_code", 0) == 0


def test_missing_state_is_refused(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    code = parse_qs(urlsplit(path).query)["code"][0]
    refused(client.get("/sso/callback", {"code": code}), "missing")
    assert Token.objects.count() == 0


def test_state_of_another_browser_is_refused(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    refused(Client().get(path), "unknown")
    assert Token.objects.count() == 0


def test_error_page_of_another_browser_does_not_reveal_the_login(sso, client: Client) -> None:
    """Issue 13 finding 13: the restart link offers another session's next and scopes to nobody."""
    path = browser_to_callback(start(client, f"{ASSETS} {WALLET}", next_url="/secret-page/"))
    stranger = Client()
    stranger.get("/sso/login/", {"scopes": ASSETS})  # a session of its own
    html = stranger.get(path).content.decode()
    assert "secret-page" not in html and WALLET not in html and ASSETS not in html
    assert 'href="/sso/login/"' in html  # a plain restart is still offered


def test_expired_login_is_refused(sso, client: Client, settings) -> None:
    path = browser_to_callback(start(client, ASSETS))
    CallbackRedirect.objects.update(created=timezone.now() - dt.timedelta(seconds=601))
    response = client.get(path)
    refused(response, "expired")
    assert Token.objects.count() == 0 and CallbackRedirect.objects.count() == 0
    assert f"scopes={ASSETS}" in response.content.decode()  # "start again" asks for the same scopes


def test_denied_login(sso, client: Client) -> None:
    start(client, ASSETS)
    state = CallbackRedirect.objects.get().state
    refused(client.get("/sso/callback", {"error": "access_denied", "state": state}), "denied")


def test_tampered_code_is_refused_by_sso(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    response = client.get(path.replace("code=", "code=x"))
    assert response.status_code == 400 and b"refused the login code" in response.content
    assert Token.objects.count() == 0
    refused(client.get(path), "unknown")  # the login is spent either way


def test_bad_signature_stores_nothing(sso, client: Client) -> None:
    # Our cached copy of SSO's keys says something else for the same kid, and the key set was
    # fetched again less than a minute ago (so it is not fetched again): the signature fails.
    impostor = RSAKey.generate_key(2048, parameters={"kid": "JWT-Signature-Key", "alg": "RS256"})
    get_redis().set(cache_key("jwks"), json.dumps({"keys": [impostor.as_dict(private=False)]}))
    get_redis().set(cache_key("jwks-refetch"), 1, ex=60)
    response = client.get(browser_to_callback(start(client, ASSETS)))
    assert response.status_code == 400 and b"signature" in response.content
    assert Token.objects.count() == 0


def test_wrong_issuer_stores_nothing(sso, client: Client, settings) -> None:
    path = browser_to_callback(start(client, ASSETS))
    # The same SSO under another name: its tokens name an issuer we do not accept.
    settings.ESI_SSO_BASE_URL = f"http://localhost:{urlsplit(sso.url).port}"
    response = client.get(path)
    assert response.status_code == 400 and b"iss" in response.content
    assert Token.objects.count() == 0


def test_sso_down_gives_503_and_stores_nothing(sso, client: Client) -> None:
    path = browser_to_callback(start(client, ASSETS))
    sso.configure_route("SsoToken", status=503)
    response = client.get(path)
    assert response.status_code == 503 and b"not answering" in response.content
    assert Token.objects.count() == 0


def test_new_owner_login_removes_the_previous_owners_tokens(sso, client: Client, make_token) -> None:
    old = make_token(90000001, [ASSETS])
    seen = []
    token_owner_changed.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t-owner")
    try:
        new_hash = sso.change_owner(90000001)
        client.get(browser_to_callback(start(client, ASSETS)))
    finally:
        token_owner_changed.disconnect(dispatch_uid="t-owner")
    assert not Token.objects.filter(pk=old.pk).exists()
    assert list(Token.objects.values_list("character_owner_hash", flat=True)) == [new_hash]
    assert seen[0]["removed"] == [old.pk] and seen[0]["old_owner_hashes"] == ["owner-hash-one"]


def test_old_logins_are_cleaned_up(sso, client: Client) -> None:
    start(client, ASSETS)
    CallbackRedirect.objects.update(created=timezone.now() - dt.timedelta(hours=1))
    start(client, ASSETS)
    assert CallbackRedirect.objects.count() == 1


def test_two_tabs_can_log_in_at_once(sso, client: Client) -> None:
    first, second = start(client, ASSETS, "/one/"), start(client, WALLET, "/two/")
    assert client.get(browser_to_callback(second))["Location"] == "/two/"
    assert client.get(browser_to_callback(first))["Location"] == "/one/"
    assert Token.objects.count() == 2


def test_no_secret_in_logs_or_pages(sso, client: Client, caplog, settings) -> None:
    caplog.set_level(logging.DEBUG)
    response = start(client, ASSETS)
    pending = CallbackRedirect.objects.get()
    lines = log_lines(caplog)
    path = browser_to_callback(response)  # the browser's own requests are not ours to check
    caplog.clear()
    code = parse_qs(urlsplit(path).query)["code"][0]
    done = client.get(path)
    replay = client.get(path)
    token = Token.objects.get()
    token.refresh()
    lines += log_lines(caplog)
    assert any("Stored a token" in line for line in lines) and any("Refreshed token" in line for line in lines)
    basic = base64.b64encode(f"{settings.ESI_SSO_CLIENT_ID}:{settings.ESI_SSO_CLIENT_SECRET}".encode()).decode()
    secrets = (
        token.access_token,
        token.refresh_token,
        code,
        pending.code_verifier,
        settings.ESI_SSO_CLIENT_SECRET,
        basic,
    )
    assert_no_secret(lines, *secrets)
    for page in (done, replay):
        assert_no_secret([page.content.decode()], *secrets)


def test_cleanup_command(client: Client) -> None:
    from io import StringIO

    from django.core.management import call_command

    start(client, ASSETS)
    start(client, WALLET)
    CallbackRedirect.objects.filter(requested_scopes=ASSETS).update(created=timezone.now() - dt.timedelta(hours=1))
    out = StringIO()
    call_command("esi_cleanup_callbacks", stdout=out)
    assert "Deleted 1 expired" in out.getvalue()
    assert list(CallbackRedirect.objects.values_list("requested_scopes", flat=True)) == [WALLET]


def test_login_after_key_rotation_refetches_the_keys_once(sso, client: Client) -> None:
    client.get(browser_to_callback(start(client, ASSETS)))  # caches the key set
    sso.rotate_signing_key("ES256")
    done = client.get(browser_to_callback(start(client, WALLET)))
    assert done.status_code == 302 and Token.objects.count() == 2
    assert sso.stats()["sso"]["jwks"] == 2


def test_malformed_scope_names_are_refused_with_an_explanation(client: Client) -> None:
    response = client.get("/sso/login/", {"scopes": f"{ASSETS} <script>alert(1)</script>"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "not an EVE SSO scope name" in body and "<script>" not in body
    assert CallbackRedirect.objects.count() == 0


def test_a_login_with_sso_unreachable_starts_at_once_without_asking_sso(client: Client, settings, caplog) -> None:
    settings.ESI_SSO_BASE_URL = "http://127.0.0.1:9"  # nothing listens: every request would fail
    with caplog.at_level("INFO", logger="esi.sso"):
        for _ in range(3):
            response = client.get("/sso/login/", {"scopes": ASSETS, "next": "/x/"})
            assert response.status_code == 302
            assert response["Location"].startswith("http://127.0.0.1:9/v2/oauth/authorize")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no SSO request, no retries

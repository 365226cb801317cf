"""token_required, tokens_required and single_use_token, through SSO and back."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from esi.models import Token
from tests.sso.fixtures import ASSETS, WALLET, sso_round_trip

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sso.urls"), pytest.mark.usefixtures("sso")]


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(User.objects.create_user("pilot"))
    return client


def back_from_sso(client: Client, url: str):
    """Visit ``url``, expect SSO, approve there; return the page the browser lands on."""
    first = client.get(url)
    assert first.status_code == 302 and "/v2/oauth/authorize" in first["Location"]
    returned = sso_round_trip(client, first)
    assert returned.status_code == 302 and returned["Location"] == url
    return client.get(url)


def test_token_required_without_tokens_goes_to_sso_and_back(user_client: Client, sso) -> None:
    sso.set_login(90000001)
    page = back_from_sso(user_client, "/one/")
    token = Token.objects.get()
    assert page.content.decode() == f"token {token.pk} of 90000001"
    assert token.user.username == "pilot" and token.scope_names == [ASSETS]


def test_token_required_offers_the_users_tokens(user_client: Client, make_token) -> None:
    user = User.objects.get(username="pilot")
    mine = make_token(90000001, [ASSETS, WALLET], user=user)
    make_token(90000002, [WALLET], user=user)  # lacks the scope: not offered
    other_user = make_token(90000003, [ASSETS], user=User.objects.create_user("other"))
    page = user_client.get("/one/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Harness Pilot One" in html and "Harness Pilot Two" not in html and "Harness Pilot Three" not in html
    chosen = user_client.post("/one/", {"_token": mine.pk})
    assert chosen.content.decode() == f"token {mine.pk} of 90000001"
    stolen = user_client.post("/one/", {"_token": other_user.pk})
    assert stolen.status_code == 200 and b"Select a character" in stolen.content  # not used
    add = user_client.post("/one/", {"_add": "1"})
    assert add.status_code == 302 and "/v2/oauth/authorize" in add["Location"]


def test_token_required_new_always_goes_to_sso(user_client: Client, make_token) -> None:
    make_token(90000001, [ASSETS], user=User.objects.get(username="pilot"))
    page = back_from_sso(user_client, "/one-new/")
    assert page.content.decode().startswith("token ")
    # the login's token is handed over once; the next visit asks SSO again
    assert "/v2/oauth/authorize" in user_client.get("/one-new/")["Location"]


def test_tokens_required_gives_all_valid_tokens_of_the_user(user_client: Client, make_token) -> None:
    user = User.objects.get(username="pilot")
    a = make_token(90000001, [ASSETS], user=user)
    b = make_token(90000003, [ASSETS, WALLET], user=user, expired=True)  # refreshed on the way
    make_token(90000002, [WALLET], user=user)
    page = user_client.get("/many/")
    assert page.content.decode() == f"tokens {a.pk},{b.pk}"


def test_tokens_required_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get("/many/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/many/")


def test_tokens_required_new_goes_through_sso_and_gets_only_the_new_token(user_client: Client, make_token) -> None:
    make_token(90000003, [ASSETS], user=User.objects.get(username="pilot"))
    page = back_from_sso(user_client, "/many-new/")
    newest = Token.objects.order_by("-pk").first()
    assert page.content.decode() == f"tokens {newest.pk}"


def test_anonymous_token_required_is_never_offered_tokens_without_user(client: Client, make_token) -> None:
    make_token(90000001, [ASSETS], user=None)
    response = client.get("/one/")
    assert response.status_code == 302 and "/v2/oauth/authorize" in response["Location"]


def test_select_page_names_scopes_and_old_templates_still_load(user_client: Client, make_token) -> None:
    from django.contrib.staticfiles import finders
    from django.template import Context, Template

    make_token(90000001, [ASSETS], user=User.objects.get(username="pilot"))
    html = user_client.get("/one/").content.decode()
    assert "read assets" in html and "EVE_SSO_Login_Buttons_Small_Black.png" in html
    assert finders.find("esi/img/EVE_SSO_Login_Buttons_Large_Black.png")
    legacy = Template("{% load scope_tags %}{{ s|scope_friendly_name }}")  # django-esi 10 templates
    assert legacy.render(Context({"s": "esi-wallet.read_character_wallet.v1"})) == "read character wallet"


def test_single_use_token_always_logs_in(user_client: Client, make_token) -> None:
    make_token(90000001, [ASSETS], user=User.objects.get(username="pilot"))
    page = back_from_sso(user_client, "/single/")
    assert page.status_code == 200 and page.content.decode().startswith("token ")
    assert user_client.get("/single/").status_code == 302


def test_a_token_obtained_for_one_view_is_not_handed_to_another(client: Client) -> None:
    first = client.get("/single/")
    sso_round_trip(client, first)
    assert client.get("/one-new/").status_code == 302  # not the /single/ login's token
    assert client.get("/single/").status_code == 200


@pytest.mark.parametrize("url", ["/one/", "/single/", "/many-new/"])
def test_login_without_the_scopes_is_not_handed_to_the_view(user_client: Client, sso, url: str) -> None:
    """Issue 13 finding 9: ``/sso/login/?next=<view>`` with no scopes must not satisfy the view."""
    sso.set_login(90000001)
    start = user_client.get(f"/sso/login/?next={url}")
    back = sso_round_trip(user_client, start)
    assert back.status_code == 302 and back["Location"] == url
    page = user_client.get(url)
    assert not page.content.decode().startswith("token")  # the scope-less token is not given
    assert page.status_code == 302 and "/v2/oauth/authorize" in page["Location"]
    assert ASSETS in parse_qs(urlsplit(page["Location"]).query)["scope"][0].split()

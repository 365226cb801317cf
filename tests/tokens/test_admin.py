"""The admin shows tokens without their secrets and can refresh or revoke them at SSO."""

from __future__ import annotations

import pytest
from django.test import Client

from esi.models import Token
from tests.sso.fixtures import ASSETS

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client: Client, django_user_model) -> Client:
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_pages_never_show_token_strings(admin_client_: Client, make_token) -> None:
    token = make_token(scopes=[ASSETS])
    pages = [
        admin_client_.get("/admin/esi/token/"),
        admin_client_.get(f"/admin/esi/token/{token.pk}/change/"),
        admin_client_.get("/admin/esi/token/?q=Harness"),
        admin_client_.get("/admin/esi/scope/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert token.access_token not in html and token.refresh_token not in html
    assert "Harness Pilot One" in pages[1].content.decode()
    assert admin_client_.get("/admin/esi/token/add/").status_code == 403


def test_refresh_action(admin_client_: Client, make_token, sso) -> None:
    token = make_token(expired=True)
    response = admin_client_.post(
        "/admin/esi/token/", {"action": "refresh_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert b"1 token(s) refreshed" in response.content
    assert not Token.objects.get(pk=token.pk).expired
    assert sso.stats()["sso"]["token_refresh_token"] == 1


def test_revoke_action(admin_client_: Client, make_token, sso) -> None:
    token = make_token()
    dead = make_token(90000002)
    sso.configure_route("SsoRevoke", status=503)
    response = admin_client_.post(
        "/admin/esi/token/", {"action": "revoke_tokens", "_selected_action": [token.pk, dead.pk]}, follow=True
    )
    assert b"did not answer" in response.content and Token.objects.count() == 2  # SSO down: kept
    sso.configure_route("SsoRevoke", status=None)
    response = admin_client_.post(
        "/admin/esi/token/", {"action": "revoke_tokens", "_selected_action": [token.pk, dead.pk]}, follow=True
    )
    assert b"2 token(s) revoked and deleted" in response.content
    assert Token.objects.count() == 0
    assert token.refresh_token.encode() not in response.content


def test_view_only_staff_cannot_refresh_or_revoke(client: Client, django_user_model, make_token, sso) -> None:
    """Issue 13 finding 2: the actions ask for change/delete permission."""
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_token"))
    client.force_login(viewer)
    token = make_token(expired=True)
    page = client.get("/admin/esi/token/").content.decode()
    assert 'value="refresh_tokens"' not in page and 'value="revoke_tokens"' not in page
    for action in ("refresh_tokens", "revoke_tokens", "delete_selected"):
        client.post("/admin/esi/token/", {"action": action, "_selected_action": [token.pk], "post": "yes"})
    assert Token.objects.filter(pk=token.pk, access_token=token.access_token).exists()
    assert sso.stats()["sso"].get("token_refresh_token", 0) == 0 and sso.stats()["sso"].get("revoke", 0) == 0

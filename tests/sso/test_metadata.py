"""SSO endpoints: django-esi 10's, from settings; a refresh or login never fetches SSO's metadata."""

import pytest
from django.test import Client

from esi.exceptions import EsiConfigurationError, TokenInvalidError
from esi.models import Token
from esi.sso import get_metadata, new_authorization, refresh_access_token
from tests.sso.fixtures import ASSETS, sso_round_trip

pytestmark = pytest.mark.usefixtures("sso")


def test_endpoints_are_django_esi_10s(settings) -> None:
    settings.ESI_SSO_BASE_URL = "https://login.eveonline.com"
    metadata = get_metadata()
    assert metadata.authorization_endpoint == "https://login.eveonline.com/v2/oauth/authorize/"
    assert metadata.token_endpoint == "https://login.eveonline.com/v2/oauth/token"
    assert metadata.revocation_endpoint == "https://login.eveonline.com/v2/oauth/revoke"
    assert metadata.jwks_uri == "https://login.eveonline.com/oauth/jwks"
    assert metadata.issuer == "https://login.eveonline.com"


def test_django_esi_10_settings_keep_their_meaning(settings) -> None:
    settings.ESI_SSO_BASE_URL = "https://login.eveonline.com/v2/oauth"  # django-esi 10's form
    assert get_metadata().token_endpoint == "https://login.eveonline.com/v2/oauth/token"
    settings.ESI_SSO_LOGIN_URL = "https://sso.example/authorize"
    settings.ESI_CODE_EXCHANGE_URL = "https://sso.example/token"
    metadata = get_metadata()
    assert (metadata.authorization_endpoint, metadata.token_endpoint) == (
        "https://sso.example/authorize",
        "https://sso.example/token",
    )


@pytest.mark.django_db
def test_refresh_and_login_post_straight_to_the_token_endpoint(sso, client: Client, make_token) -> None:
    sso.configure_route("SsoMetadata", status=503)  # were it read, this would show
    token = make_token(expired=True)
    token.valid_access_token()
    response = client.get("/sso/login/", {"scopes": ASSETS, "next": "/x/"})
    assert "/v2/oauth/authorize/?" in response["Location"]
    assert sso_round_trip(client, response)["Location"] == "/x/"
    assert Token.objects.count() == 1  # the login's token is the same as make_token's: reused
    stats = sso.stats()
    assert stats["by_route"].get("SsoMetadata") is None  # never asked for
    assert stats["sso"]["token_refresh_token"] == 1


def test_authorization_request_hides_its_secrets() -> None:
    request = new_authorization([ASSETS, ASSETS])
    assert request.scopes == (ASSETS,)
    assert request.state in request.url and request.code_verifier not in request.url
    assert request.state not in repr(request) and request.code_verifier not in repr(request)


def test_dead_refresh_token(sso) -> None:
    with pytest.raises(TokenInvalidError, match="invalid_grant"):
        refresh_access_token("never-issued")


def test_missing_client_id(settings) -> None:
    settings.ESI_SSO_CLIENT_ID = ""
    with pytest.raises(EsiConfigurationError, match="ESI_SSO_CLIENT_ID"):
        new_authorization([ASSETS])


def test_wrong_client_secret(sso) -> None:
    sso.set_client("test-client-id", "the-real-secret")
    tokens = sso.issue_tokens(90000001, [ASSETS])
    from esi.exceptions import SSOError

    with pytest.raises(SSOError, match="ESI_SSO_CLIENT_SECRET") as info:
        refresh_access_token(tokens["refresh_token"])
    assert "test-client-secret" not in str(info.value) and tokens["refresh_token"] not in str(info.value)

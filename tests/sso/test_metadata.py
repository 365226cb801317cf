"""SSO metadata: fetched once, cached in Redis, and the documented endpoints when it is down."""

import pytest
from django.test import Client

from esi.exceptions import EsiConfigurationError, TokenInvalidError
from esi.models import Token
from esi.sso import get_metadata, new_authorization, refresh_access_token
from tests.sso.fixtures import ASSETS, sso_round_trip

pytestmark = pytest.mark.usefixtures("sso")


def test_metadata_is_fetched_once(sso) -> None:
    first = get_metadata()
    assert first.token_endpoint == f"{sso.url}/v2/oauth/token" and first.jwks_uri == f"{sso.url}/oauth/jwks"
    sso.configure_route("SsoMetadata", status=500)
    assert get_metadata() == first  # from Redis


def test_metadata_outage_falls_back_to_the_documented_endpoints(sso) -> None:
    sso.configure_route("SsoMetadata", status=503)
    metadata = get_metadata()
    assert metadata.authorization_endpoint == f"{sso.url}/v2/oauth/authorize"
    assert metadata.revocation_endpoint == f"{sso.url}/v2/oauth/revoke"


@pytest.mark.django_db
def test_login_works_while_metadata_is_down(sso, client: Client) -> None:
    sso.configure_route("SsoMetadata", status=503)
    response = client.get("/sso/login/", {"scopes": ASSETS, "next": "/x/"})
    assert sso_round_trip(client, response)["Location"] == "/x/"
    assert Token.objects.count() == 1


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


@pytest.mark.django_db
def test_a_metadata_outage_is_remembered_so_the_next_login_does_not_wait(sso, client: Client, caplog) -> None:
    sso.configure_route("SsoMetadata", status=503)
    with caplog.at_level("INFO", logger="esi.sso"):
        for _ in range(3):
            response = client.get("/sso/login/", {"scopes": ASSETS, "next": "/x/"})
            assert response.status_code == 302 and "/v2/oauth/authorize" in response["Location"]
    tries = [r for r in caplog.records if r.getMessage().startswith("EVE SSO metadata request")]
    assert len(tries) == 3  # one fetch with its 2 retries, for the first login only
    fallbacks = [r for r in caplog.records if "using the documented endpoints" in r.getMessage()]
    assert len(fallbacks) == 1 and "left untouched" not in fallbacks[0].getMessage()

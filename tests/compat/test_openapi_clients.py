"""django-esi 10 calling code, run unchanged against the simulator through esi.openapi_clients."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from esi.client import get_client
from esi.compat.openapi_clients import provider_user_agent
from esi.exceptions import EsiClientError, EsiServerError, InvalidParameter, UnknownOperation
from esi.openapi_clients import ESIClientProvider, EsiObject

pytestmark = pytest.mark.usefixtures("redis_client")

ASSETS_SCOPE = "esi-assets.read_assets.v1"


@pytest.fixture
def provider() -> ESIClientProvider:
    return ESIClientProvider(compatibility_date="2025-08-26", ua_appname="compat-tests", ua_version="1.0")


def test_get_status_result_reads_as_attributes_and_as_dict(esi_sim, provider):
    status = provider.client.Status.GetStatus().result()

    assert isinstance(status, EsiObject)
    assert status.players == status["players"] > 0
    assert isinstance(status.server_version, str)
    assert status.model_dump() == dict(status) and type(status.model_dump()) is dict
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}


def test_second_result_comes_from_the_shared_cache(esi_sim, provider):
    first = provider.client.Status.GetStatus().result()
    second = ESIClientProvider("2025-08-26", "other-app", "2.0").client.Status.GetStatus().result()

    assert second == first
    assert esi_sim.stats()["total"] == 1  # one client per process, one cache for every provider


def test_paged_results_join_every_page(esi_sim, provider):
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=3)
    market = provider.client.Market

    orders = market.GetMarketsRegionIdOrders(region_id=10000002).results()
    first_page = market.GetMarketsRegionIdOrders(region_id=10000002).result()

    log = esi_sim.request_log("GetMarketsRegionIdOrders")
    pages = [dict(p.split("=") for p in r["query"].split("&")).get("page", "1") for r in log]
    assert sorted(set(pages)) == ["1", "2", "3"]  # every page of X-Pages: 3 was asked for
    assert orders[: len(first_page)] == first_page
    assert len(orders) > len(first_page)
    assert all(isinstance(o, EsiObject) and o.order_id for o in orders)
    direct = get_client().call("GetMarketsRegionIdOrders", region_id=10000002, all_pages=True).data
    assert [o.model_dump(mode="json") for o in orders] == direct  # dates as ESI wrote them


def test_results_of_a_single_object_is_a_one_item_list(esi_sim, provider):
    results = provider.client.Status.GetStatus().results()
    assert isinstance(results, list) and len(results) == 1 and results[0].players


def test_snake_case_and_pythonic_tag_names_still_resolve(esi_sim, provider):
    assert provider.client.Status.get_status().result().players
    tag = provider.client.Planetary_Interaction
    assert "GetUniverseSchematicsSchematicId" in dir(tag)


def test_not_modified_returns_the_stored_data_instead_of_raising(esi_sim, provider):
    stored = provider.client.Status.GetStatus().result()

    data, response = provider.client.Status.GetStatus().result(force_refresh=True, return_response=True)

    assert data == stored
    assert response.status_code == 304 and response.not_modified
    assert response.headers.get("etag")
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1, "304": 1}


def test_use_cache_false_asks_esi_again(esi_sim, provider):
    provider.client.Status.GetStatus().result()
    provider.client.Status.GetStatus().result(use_cache=False, use_etag=False, store_cache=False)
    assert esi_sim.stats()["by_route"]["GetStatus"]["304"] == 1


def test_token_as_access_token_string_like_django_esi_10(esi_sim, provider):
    tokens = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    op = provider.client.Assets.GetCharactersCharacterIdAssets(character_id=90000001, token=tokens["access_token"])

    assets = op.results()

    assert assets and all(a.item_id for a in assets)
    log = esi_sim.request_log("GetCharactersCharacterIdAssets")
    assert log and all(entry["character_id"] == 90000001 for entry in log)
    assert op.required_scopes() == [ASSETS_SCOPE]
    assert provider.client.Status.GetStatus().required_scopes() == []


def test_results_localized_sends_each_language(esi_sim, provider):
    op = provider.client.Universe.GetUniverseTypesTypeId(type_id=587)

    by_language = op.results_localized(languages=["en", "de"])

    assert set(by_language) == {"en", "de"}
    assert all(isinstance(v, list) and len(v) == 1 for v in by_language.values())
    sent = [e["headers"].get("accept-language") for e in esi_sim.request_log("GetUniverseTypesTypeId")]
    assert sorted(sent) == ["de", "en"]


def test_results_localized_refuses_an_unknown_language(esi_sim, provider):
    op = provider.client.Universe.GetUniverseTypesTypeId(type_id=587)
    with pytest.raises(InvalidParameter, match=r"'xx'.*use any of en") as info:
        op.results_localized(languages=["en", "xx"])
    assert isinstance(info.value, ValueError)  # django-esi 10 raised ValueError
    assert esi_sim.stats()["total"] == 0


def test_header_parameters_of_django_esi_10_are_accepted(esi_sim, provider):
    op = provider.client.Universe.GetUniverseTypesTypeId(type_id=587, accept_language="fr", If_None_Match="x")
    op.result(datasource="tranquility")
    assert esi_sim.request_log("GetUniverseTypesTypeId")[0]["headers"]["accept-language"] == "fr"


def test_a_server_error_is_raised_at_once_under_the_old_name(esi_sim, provider, settings):
    """As django-esi 10 did (apps' suites mock exactly one 5xx answer); get_client() retries."""
    from esi.exceptions import HTTPServerError

    settings.ESI_SERVER_ERROR_MAX_RETRIES = 2
    settings.ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
    esi_sim.configure_route("GetStatus", status=503)

    with pytest.raises(HTTPServerError) as info:
        provider.client.Status.GetStatus().result()

    assert isinstance(info.value, EsiServerError)
    assert info.value.status_code == 503
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 1}
    with pytest.raises(EsiServerError):
        get_client().call("GetStatus")
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 4}  # + 1 request and 2 retries


def test_client_errors_keep_status_code_and_data(esi_sim, provider):
    from esi.exceptions import HTTPClientError

    esi_sim.configure_route("GetUniverseTypesTypeId", status=404)
    with pytest.raises(HTTPClientError) as info:
        provider.client.Universe.GetUniverseTypesTypeId(type_id=1).result()
    assert isinstance(info.value, EsiClientError)
    assert info.value.status_code == 404 and info.value.data == info.value.body


def test_unknown_tag_is_an_attribute_error_with_a_suggestion(provider):
    with pytest.raises(AttributeError, match=r"no tag 'Stauts'.*Did you mean: Status"):
        provider.client.Stauts


def test_unknown_operation_names_the_closest(provider):
    with pytest.raises(UnknownOperation, match="GetStatus"):
        provider.client.Status.GetStatuss


def test_wrong_parameters_are_refused_before_any_request(esi_sim, provider):
    with pytest.raises(InvalidParameter, match="region_id"):
        provider.client.Market.GetMarketsRegionIdOrders().results()
    with pytest.raises(InvalidParameter, match="keyword arguments only"):
        provider.client.Market.GetMarketsRegionIdOrders(10000002)
    assert esi_sim.stats()["total"] == 0


def test_tags_and_operations_limit_the_client(esi_sim):
    client = ESIClientProvider("2025-08-26", "x", "1", tags=["Status"], operations=["GetUniverseTypesTypeId"]).client

    assert client.Status.GetStatus().result().players
    assert dir(client) == ["Status", "Universe"]
    with pytest.raises(UnknownOperation):
        client.Universe.GetUniverseSystemsSystemId
    with pytest.raises(AttributeError, match="no tag 'Market'"):
        client.Market


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tags": ["Stauts"]}, InvalidParameter, "no tag 'Stauts'.*Did you mean: Status"),
        ({"operations": ["GetStatuss"]}, UnknownOperation, "GetStatus"),
    ],
)
def test_unknown_tags_or_operations_are_reported_when_the_client_is_built(kwargs, error, match):
    provider = ESIClientProvider("2025-08-26", "x", "1", **kwargs)
    with pytest.raises(error, match=match):
        provider.client


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compatibility_date": "26/08/2025"}, "compatibility_date '26/08/2025' is not a date"),
        ({"ua_appname": " "}, "needs ua_appname"),
        ({"tenant": "singularity"}, "tenant 'singularity' is not supported.*ESI_API_URL"),
    ],
)
def test_bad_provider_arguments_are_refused(kwargs, match):
    args = {"compatibility_date": "2025-08-26", "ua_appname": "x", "ua_version": "1"} | kwargs
    with pytest.raises(InvalidParameter, match=match):
        ESIClientProvider(**args)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_provider_accepts_a_date_object_and_uses_the_client_of_its_date(settings):
    settings.ESI_API_URL = "http://127.0.0.1:9/"  # offline: the bundled view not after the date
    provider = ESIClientProvider(dt.date(2025, 8, 26), "app", "1.2", ua_url="https://example.com")
    assert str(provider) == "ESIClientProvider - app (1.2)"
    assert provider.client is provider.client  # built once
    ua = provider_user_agent("app", "1.2", "https://example.com")
    esi = get_client("2025-08-26", user_agent=ua, retry_server_errors=False, remember_errors=False)
    assert provider.client._esi is esi and esi.compatibility_date == "2025-08-26"
    assert esi.spec.date == "2020-01-01"
    assert esi.spec is get_client("2025-08-26").spec  # one view per date, whatever the User-Agent


def test_each_provider_sends_its_own_user_agent(esi_sim, settings):
    import esi

    settings.ESI_USER_CONTACT_EMAIL = "admin@example.net"
    ESIClientProvider(
        "2025-08-26", "alliance auth", "5.5.0", ua_url="https://aa.example"
    ).client.Status.GetStatus().result(force_refresh=True)
    ESIClientProvider("2025-08-26", "other-app", "2.0").client.Status.GetStatus().result(force_refresh=True)
    get_client().call("GetStatus", force_refresh=True)

    sent = [entry["headers"]["user-agent"] for entry in esi_sim.request_log("GetStatus")]
    assert sent[:2] == [
        f"AllianceAuth/5.5.0 (admin@example.net; +https://aa.example) DjangoEsi/{esi.__version__} (+{esi.__url__})",
        f"OtherApp/2.0 (admin@example.net) DjangoEsi/{esi.__version__} (+{esi.__url__})",
    ]
    assert sent[2].endswith(f"django-esi/{esi.__version__}")  # the project's own, unchanged


def test_django_esi_10_exception_names_import_from_both_modules():
    import esi.errors as errors
    import esi.exceptions as exceptions
    from esi.exceptions import ESIBucketLimitException, ESIErrorLimitException, HTTPNotModified

    assert errors.DjangoEsiException is exceptions.EsiError
    assert errors.TokenExpiredError is errors.NotRefreshableTokenError is exceptions.NotRefreshableError
    assert errors.SSOUnavailableError is errors.IncompleteResponseError is exceptions.SSOUnavailable
    assert issubclass(errors.SSOOAuthError, exceptions.EsiError)
    assert ESIErrorLimitException(retry_after=7).reset == 7.0
    limited = ESIBucketLimitException("market", 3)
    assert (limited.bucket, limited.reset) == ("market", 3.0)
    assert issubclass(HTTPNotModified, exceptions.EsiError)
    assert HTTPNotModified is errors.HTTPNotModified
    from esi.compat import errors as compat_errors

    assert set(errors._REPLACEMENTS) | {"legacy_http_error"} == set(compat_errors.__all__)
    assert compat_errors.__all__ == sorted(compat_errors.__all__)
    with pytest.raises(AttributeError, match="NoSuchName"):
        exceptions.NoSuchName


@pytest.mark.django_db
def test_django_esi_10_code_with_a_migrated_token(esi_sim, provider):
    """A token as django-esi 10 left it (expiry unknown) works the way old code passes it."""
    from esi.models import Scope, Token

    esi_sim.accept_refresh_token("legacy-refresh-token-one", 90000001, [ASSETS_SCOPE])
    token = Token.objects.create(
        character_id=90000001,
        character_name="Harness Pilot One",
        character_owner_hash="owner-hash-one",
        access_token="legacy-access-token",
        refresh_token="legacy-refresh-token-one",
        sso_version=2,
    )
    Token.objects.filter(pk=token.pk).update(created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # logged in long ago
    token.scopes.add(Scope.objects.create(name=ASSETS_SCOPE))
    token = Token.objects.filter(character_id=90000001).require_scopes([ASSETS_SCOPE]).get()
    op = provider.client.Assets.GetCharactersCharacterIdAssets

    old_style = op(character_id=90000001, token=token.valid_access_token()).results()
    new_style = op(character_id=90000001, token=token).results(force_refresh=True)  # sent again, with the Token

    assert old_style == new_style and old_style
    log = esi_sim.request_log("GetCharactersCharacterIdAssets")
    assert len(log) >= 2 and {entry["character_id"] for entry in log} == {90000001}
    assert esi_sim.stats()["sso"]["token_refresh_token"] == 1  # refreshed once, on first use
    token.refresh_from_db()
    assert token.access_token != "legacy-access-token" and token.expires is not None


def test_public_names_are_pinned():
    import esi.openapi_clients as module

    assert module.__all__ == [
        "ESIClient",
        "ESIClientProvider",
        "ESITag",
        "EsiObject",
        "EsiOperation",
        "LegacyResponse",
    ]
    assert all(hasattr(module, name) for name in module.__all__)


def test_a_declared_field_esi_left_out_reads_as_none(esi_sim, provider):
    """django-esi 10's models gave None for an optional field ESI did not send (Alliance Auth
    reads ``corporation.alliance_id`` of corporations in no alliance); other names still fail."""
    corporation = provider.client.Corporation.GetCorporationsCorporationId(corporation_id=98000001).result()
    assert "alliance_id" not in corporation
    assert corporation.alliance_id is None and corporation.name
    with pytest.raises(AttributeError, match="no field 'no_such_field'"):
        corporation.no_such_field
    assert corporation.model_dump() == dict(corporation)

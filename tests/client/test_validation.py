"""Every call is checked before any I/O: each mistake is its own clear error."""

from types import SimpleNamespace
from typing import Any

import pytest

from esi.client import EsiClient, SpecIndex
from esi.client._spec import BUNDLED_SPEC
from esi.exceptions import InvalidParameter, MissingScope, TokenRequired, UnknownOperation


class _NoNetwork:
    """An httpx transport that fails the test if the client ever tries to send."""

    def handle_request(self, request: Any) -> Any:
        raise AssertionError(f"validation must fail before I/O, but {request.url} was requested")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def client() -> EsiClient:
    return EsiClient(spec=SpecIndex.from_file(BUNDLED_SPEC), transport=_NoNetwork())  # type: ignore[arg-type]


class FakeToken:
    """Duck-typed like esi.models.Token (character_id, scope_names, valid_access_token)."""

    def __init__(self, character_id: int, scopes: list[str]) -> None:
        self.character_id = character_id
        self.scope_names = scopes

    def valid_access_token(self) -> str:
        raise AssertionError("no access token may be fetched when validation fails")


def test_unknown_operation(client: EsiClient) -> None:
    with pytest.raises(UnknownOperation, match="GetCharactersCharacterIdAssets"):
        client.call("GetCharacterAsset", character_id=1)


def test_missing_parameter(client: EsiClient) -> None:
    with pytest.raises(InvalidParameter, match="'region_id'") as info:
        client.call("GetMarketsRegionIdOrders")
    assert info.value.parameter == "region_id" and info.value.operation == "GetMarketsRegionIdOrders"


def test_unknown_parameter_lists_the_real_ones(client: EsiClient) -> None:
    with pytest.raises(InvalidParameter, match=r"no parameter .regoin_id.*region_id"):
        client.call("GetMarketsRegionIdOrders", regoin_id=10000002)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"region_id": "Forge"}, "'region_id' must be an integer"),
        ({"region_id": True}, "'region_id' must be an integer"),
        ({"region_id": 1.5}, "'region_id' must be an integer"),
        ({"region_id": 10000002, "order_type": "both"}, "must be one of buy, sell, all"),
        ({"region_id": 10000002, "order_type": 3}, "'order_type' must be a string"),
    ],
)
def test_ill_typed_or_outside_enum(client: EsiClient, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        client.call("GetMarketsRegionIdOrders", **params)


def test_required_parameter_with_default_gets_it(client: EsiClient) -> None:
    assert client.spec.validate("GetMarketsRegionIdOrders", {"region_id": "10000002"}) == {
        "region_id": 10000002,
        "order_type": "all",
    }


def test_page_one_is_no_page(client: EsiClient) -> None:
    assert client.spec.validate("GetUniverseTypes", {"page": 1}) == {}
    assert client.spec.validate("GetUniverseTypes", {"page": "2"}) == {"page": 2}


def test_array_query_parameters(client: EsiClient) -> None:
    values = client.spec.validate(
        "GetCharactersCharacterIdSearch", {"character_id": 1, "categories": "agent", "search": "x"}
    )
    assert values["categories"] == ["agent"]
    with pytest.raises(InvalidParameter, match="must be one of"):
        client.spec.validate(
            "GetCharactersCharacterIdSearch", {"character_id": 1, "categories": ["nope"], "search": "x"}
        )


def test_request_body_checks(client: EsiClient) -> None:
    with pytest.raises(InvalidParameter, match="needs a JSON request body"):
        client.call("PostUniverseNames")
    with pytest.raises(InvalidParameter, match="body must be a list"):
        client.call("PostUniverseNames", body={"ids": [1]})
    with pytest.raises(InvalidParameter, match="must not be empty"):
        client.call("PostUniverseNames", body=[])
    with pytest.raises(InvalidParameter, match="takes no request body"):
        client.call("GetStatus", body=[1])


def test_language_must_be_one_esi_knows(client: EsiClient) -> None:
    with pytest.raises(InvalidParameter, match="language must be one of"):
        client.call("GetStatus", language="xx")


def test_secured_operation_without_token(client: EsiClient) -> None:
    with pytest.raises(TokenRequired, match=r"esi-assets\.read_assets\.v1"):
        client.call("GetCharactersCharacterIdAssets", character_id=1)


def test_token_missing_scope_names_it(client: EsiClient) -> None:
    token = FakeToken(1, ["esi-wallet.read_character_wallet.v1"])
    with pytest.raises(MissingScope, match=r"esi-assets\.read_assets\.v1") as info:
        client.call("GetCharactersCharacterIdAssets", character_id=1, token=token)
    assert info.value.scopes == ["esi-assets.read_assets.v1"]


def test_scopes_read_from_a_related_manager(client: EsiClient) -> None:
    class Scopes:
        def values_list(self, field: str, flat: bool = False) -> list[str]:
            assert (field, flat) == ("name", True)
            return ["esi-wallet.read_character_wallet.v1"]

    token = SimpleNamespace(character_id=1, scopes=Scopes(), valid_access_token=lambda: "x")
    with pytest.raises(MissingScope):
        client.call("GetCharactersCharacterIdAssets", character_id=1, token=token)


def test_not_a_token(client: EsiClient) -> None:
    with pytest.raises(TokenRequired, match=r"esi\.models\.Token"):
        client.call("GetCharactersCharacterIdAssets", character_id=1, token=12345)
    with pytest.raises(TokenRequired, match="empty"):
        client.call("GetCharactersCharacterIdAssets", character_id=1, token="")


def test_tag_access_unknown(client: EsiClient) -> None:
    with pytest.raises(AttributeError, match="no tag"):
        client.Nope
    with pytest.raises(UnknownOperation, match="GetStatus"):
        client.Status.GetStatsu()
    assert "GetStatus" in dir(client.Status)


@pytest.mark.parametrize("value", ["..", ".", " .. ", ""])
def test_dot_segments_in_path_parameters_are_refused(client: EsiClient, value: str) -> None:
    """Issue 13 finding 11: ``killmail_hash=".."`` used to request ``/killmails`` instead (no I/O now)."""
    with pytest.raises(InvalidParameter, match="killmail_hash"):
        client.call("GetKillmailsKillmailIdKillmailHash", killmail_id=1, killmail_hash=value)

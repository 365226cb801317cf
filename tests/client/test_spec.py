"""The spec index: operations, aliases, parameters, scopes, limits, pagination, loading errors."""

import json
from pathlib import Path

import pytest
from django.test import override_settings

from esi.client import RateLimitGroup, SpecIndex, get_spec
from esi.client._spec import BUNDLED_SPEC, snake_case
from esi.exceptions import EsiSpecError, UnknownOperation


@pytest.fixture(scope="module")
def spec() -> SpecIndex:
    return SpecIndex.from_file(BUNDLED_SPEC)


def test_indexes_every_operation_of_the_bundled_spec(spec: SpecIndex) -> None:
    assert len(spec) == 225
    assert len(spec.operations) == 225
    assert spec.version == "2026-08-04"


def test_operation_record(spec: SpecIndex) -> None:
    op = spec.get("GetCharactersCharacterIdAssets")
    assert op.method == "get"
    assert op.path == "/characters/{character_id}/assets"
    assert op.scopes == ["esi-assets.read_assets.v1"]
    assert op.rate_limit == RateLimitGroup("char-asset", 1800, 900.0)
    assert op.cache_age == 3600
    assert op.paginated == "pages"
    assert op.tags == ["Assets"]
    assert set(op.parameters) == {"character_id", "page"}
    assert op.parameters["character_id"].required and op.parameters["character_id"].type == "integer"
    assert op.path_params == ("character_id",)


def test_client_set_headers_are_not_caller_parameters(spec: SpecIndex) -> None:
    for op in spec.operations.values():
        for forbidden in ("Accept-Language", "If-None-Match", "X-Compatibility-Date", "X-Tenant", "If-Modified-Since"):
            assert forbidden not in op.parameters, op.id


def test_required_parameter_default_and_enum(spec: SpecIndex) -> None:
    p = spec.get("GetMarketsRegionIdOrders").parameters["order_type"]
    assert p.required and p.has_default and p.default == "all" and p.enum == ("buy", "sell", "all")


def test_snake_case_alias(spec: SpecIndex) -> None:
    assert snake_case("GetCharactersCharacterIdAssets") == "get_characters_character_id_assets"
    assert spec.get("get_characters_character_id_assets") is spec.get("GetCharactersCharacterIdAssets")
    assert "get_status" in spec and "GetStatus" in spec and "get_nothing" not in spec


def test_pagination_styles(spec: SpecIndex) -> None:
    assert spec.get("GetMarketsRegionIdOrders").paginated == "pages"
    assert spec.get("GetCorporationsProjectsListing").paginated == "cursor"
    assert spec.get("GetCharactersCharacterIdWalletTransactions").paginated == "from_id"
    assert spec.get("GetCharactersCharacterIdMail").paginated == "from_id"
    assert spec.get("GetStatus").paginated is None
    styles = [op.paginated for op in spec.operations.values()]
    assert styles.count("pages") == 40 and styles.count("cursor") == 7


def test_request_bodies_and_public_operations(spec: SpecIndex) -> None:
    names = spec.get("PostUniverseNames")
    assert names.method == "post" and names.body is not None and names.body.required and names.body.type == "array"
    assert names.scopes == [] and not names.secured
    assert spec.get("GetStatus").body is None


def test_secured_operations_count(spec: SpecIndex) -> None:
    assert sum(op.secured for op in spec.operations.values()) == 139
    assert sum(op.rate_limit is not None for op in spec.operations.values()) == 163


def test_unknown_operation_names_the_closest(spec: SpecIndex) -> None:
    with pytest.raises(UnknownOperation) as info:
        spec.get("GetCharacterAssets")
    assert "GetCharactersCharacterIdAssets" in info.value.suggestions
    assert "GetCharactersCharacterIdAssets" in str(info.value)
    with pytest.raises(UnknownOperation) as info:
        spec.get("get_character_assets")
    assert "GetCharactersCharacterIdAssets" in info.value.suggestions


def test_tags(spec: SpecIndex) -> None:
    assert "GetStatus" in spec.tags["Status"]
    assert "GetCharactersCharacterIdAssets" in spec.tags["Assets"]


def test_languages(spec: SpecIndex) -> None:
    assert spec.languages == ("en", "de", "fr", "ja", "ru", "zh", "ko", "es")


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(EsiSpecError, match="ESI_SPEC_FILE"):
        SpecIndex.from_file(tmp_path / "nope.json")


def test_bad_json_is_a_spec_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EsiSpecError, match="not valid JSON"):
        SpecIndex.from_file(bad)
    bad.write_text('{"openapi": "3.1.0"}')
    with pytest.raises(EsiSpecError, match="not an OpenAPI document"):
        SpecIndex.from_file(bad)


def test_esi_spec_file_setting_selects_the_document(tmp_path: Path) -> None:
    doc = json.loads(BUNDLED_SPEC.read_text())
    doc["paths"] = {"/status": doc["paths"]["/status"]}
    small = tmp_path / "small.json"
    small.write_text(json.dumps(doc))
    with override_settings(ESI_SPEC_FILE=str(small)):
        assert list(get_spec()) == ["GetStatus"]
    assert len(get_spec()) == 225

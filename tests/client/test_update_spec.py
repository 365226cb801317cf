"""manage.py esi_update_spec: fetch ESI's document, check it, write it atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from esi.client import get_spec


def test_writes_the_served_document(esi_sim: Any, tmp_path: Path) -> None:
    target = tmp_path / "spec" / "openapi.json"
    call_command("esi_update_spec", str(target))
    doc = json.loads(target.read_text())
    assert "paths" in doc and len(doc["paths"]) > 100
    sent = esi_sim.request_log()[-1]["headers"]
    assert sent["x-compatibility-date"] == "2026-08-04"
    with override_settings(ESI_SPEC_FILE=str(target)):
        assert "GetStatus" in get_spec()


def test_uses_esi_spec_file_setting_for_the_default_date(esi_sim: Any, tmp_path: Path, redis_client: Any) -> None:
    target = tmp_path / "openapi.json"
    with override_settings(ESI_SPEC_FILE=str(target), ESI_COMPATIBILITY_DATE="2020-01-01"):
        call_command("esi_update_spec")
    assert json.loads(target.read_text())["info"]["version"] == "2020-01-01"
    assert esi_sim.request_log("GetMetaOpenapi")[-1]["headers"]["x-compatibility-date"] == "2020-01-01"


def test_needs_a_target(redis_client: Any) -> None:
    with pytest.raises(CommandError, match="ESI_SPEC_FILE"):
        call_command("esi_update_spec")


def test_unreachable_esi_is_a_command_error(tmp_path: Path) -> None:
    with override_settings(ESI_API_URL="http://127.0.0.1:9/"), pytest.raises(CommandError, match="Could not fetch"):
        call_command("esi_update_spec", str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()


def test_date_refreshes_the_shared_view_and_no_date_refreshes_every_stored_one(esi_sim: Any, redis_client: Any) -> None:
    from io import StringIO

    from esi.client._views import cached_dates, clear_views, get_view

    out = StringIO()
    call_command("esi_update_spec", date="2026-05-19", stdout=out)
    assert "Stored ESI's view of 2026-05-19" in out.getvalue() and cached_dates() == ["2026-05-19"]
    call_command("esi_update_spec", "--date", "2026-08-04", stdout=out)
    assert cached_dates() == ["2026-05-19", "2026-08-04"]
    assert [e["headers"]["x-compatibility-date"] for e in esi_sim.request_log("GetMetaOpenapi")] == [
        "2026-05-19",
        "2026-08-04",
    ]
    call_command("esi_update_spec", stdout=out)  # every stored date again
    assert len(esi_sim.request_log("GetMetaOpenapi")) == 4
    clear_views()
    assert get_view("2026-08-04").source == "the stored ESI view of 2026-08-04"  # preferred to the bundled copy
    assert len(esi_sim.request_log("GetMetaOpenapi")) == 4


@pytest.mark.parametrize("date", ["2019-01-01", "2999-01-01", "19/05/2026"])
def test_bad_date_is_a_command_error_naming_the_valid_dates(date: str) -> None:
    with pytest.raises(CommandError, match="valid dates are 2020-01-01 to"):
        call_command("esi_update_spec", date=date)


def test_refused_view_is_a_command_error(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route("GetMetaOpenapi", status=503)
    with pytest.raises(CommandError, match=r"Could not fetch ESI's view of 2026-05-19: .* answered 503"):
        call_command("esi_update_spec", date="2026-05-19")

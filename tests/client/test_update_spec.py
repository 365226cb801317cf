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


def test_uses_esi_spec_file_setting(esi_sim: Any, tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    with override_settings(ESI_SPEC_FILE=str(target)):
        call_command("esi_update_spec", compatibility_date="2020-01-01")
    assert json.loads(target.read_text())["info"]["version"] == "2020-01-01"


def test_needs_a_target() -> None:
    with pytest.raises(CommandError, match="ESI_SPEC_FILE"):
        call_command("esi_update_spec")


def test_unreachable_esi_is_a_command_error(tmp_path: Path) -> None:
    with override_settings(ESI_API_URL="http://127.0.0.1:9/"), pytest.raises(CommandError, match="Could not fetch"):
        call_command("esi_update_spec", str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()

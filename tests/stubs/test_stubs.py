"""The typed accessor stubs: the shipped file is what the generator writes, and mypy uses it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from esi._dates import bundled_dates
from esi.client import EsiClient
from esi.client._accessors import PendingCall
from esi.client._spec import BUNDLED_SPEC
from esi.client._stubs import STUB_PATH

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = Path(__file__).resolve().parent / "snippets"


def test_shipped_stubs_match_the_bundled_view(tmp_path: Path) -> None:
    """Regenerating from the bundled view gives the committed file byte for byte (else: run the
    command and commit the result)."""
    out = tmp_path / "typed.pyi"
    call_command("esi_generate_stubs", "--compatibility-date", bundled_dates()[-1], "--output", str(out))
    assert out.read_text() == STUB_PATH.read_text(), "esi/client/_typed.pyi drifted: run manage.py esi_generate_stubs"


def test_an_older_view_gives_its_own_stubs(tmp_path: Path) -> None:
    out = tmp_path / "old.pyi"
    call_command("esi_generate_stubs", "--compatibility-date", bundled_dates()[0], "--output", str(out))
    text = out.read_text()
    assert f"from the ESI view of {bundled_dates()[0]}" in text
    assert text != STUB_PATH.read_text()
    assert "class TypedTags:" in text


def test_a_bad_date_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="compatibility-date"):
        call_command("esi_generate_stubs", "--compatibility-date", "yesterday", "--output", str(tmp_path / "x.pyi"))


def test_every_stubbed_accessor_exists_at_runtime() -> None:
    """Each tag attribute and operation the stubs declare resolves on a real client (no I/O)."""
    text = STUB_PATH.read_text()
    tags = dict(re.findall(r"^    (\w+): (\w+Operations)$", text, re.M))
    client = EsiClient(spec_file=str(BUNDLED_SPEC))
    assert len(tags) == len(client.spec.tags)
    for attr, cls in tags.items():
        block = text.split(f"class {cls}:\n", 1)[1].split("\n\n", 1)[0]
        for op_id in re.findall(r"^    def (\w+)\(", block, re.M):
            assert isinstance(getattr(getattr(client, attr), op_id)(), PendingCall)


def test_mypy_accepts_a_correct_call_and_rejects_wrong_names_and_types(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nfollow_imports = silent\n")
    files = [str(SNIPPETS / f"{name}.py") for name in ("good", "wrong_name", "wrong_type")]
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(tmp_path / "c"), *files]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    by_file = {name: [e for e in errors if f"{name}.py:" in e] for name in ("good", "wrong_name", "wrong_type")}
    assert by_file["good"] == [], run.stdout
    assert len(by_file["wrong_name"]) == 1 and 'Unexpected keyword argument "region"' in by_file["wrong_name"][0]
    assert len(by_file["wrong_type"]) == 2, run.stdout
    assert '"region_id"' in by_file["wrong_type"][0] and 'expected "int"' in by_file["wrong_type"][0]
    assert "Literal['buy', 'sell', 'all']" in by_file["wrong_type"][1]
    assert len(errors) == 3, run.stdout


def test_an_unwritable_output_is_a_command_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("esi_generate_stubs", "--output", str(blocker / "typed.pyi"))

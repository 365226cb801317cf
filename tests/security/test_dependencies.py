"""Issue 13 finding 15: the declared minimums allow no release with a known CVE."""

from __future__ import annotations

import configparser
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

#: package -> first release without the advisories listed in docs/security.md
SAFE = {
    "django": "5.2.14",
    "authlib": "1.6.12",
    "joserfc": "1.7.4",
    "h11": "0.16",
    "httpx": "0.28",
    "cryptography": "44.0.1",
}


def _requirements() -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in config["options"]["install_requires"].splitlines()]
    reqs = [Requirement(line) for line in lines if line and not line.startswith("#")]
    return {r.name.lower(): r for r in reqs}


@pytest.mark.parametrize(("name", "safe"), sorted(SAFE.items()))
def test_no_vulnerable_release_is_allowed(name: str, safe: str) -> None:
    requirement = _requirements()[name]
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", ">", "==", "~=")]
    assert floors and min(floors) >= Version(safe), f"{name}: {requirement} allows releases before {safe}"
    assert Version(version(name)) in requirement.specifier  # and what is installed satisfies it


def test_security_page_names_every_minimum() -> None:
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for name, safe in SAFE.items():
        assert f"{name} >= {safe}" in page.lower()

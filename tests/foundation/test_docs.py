"""The docs can't drift from the code: settings reference, operations guide, exceptions, upgrading."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

import esi.errors
import esi.exceptions
from esi.app_settings import SETTINGS
from tests.foundation.test_settings import GUIDE_OPTIONAL, GUIDE_REQUIRED

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import esi_settings_ref  # noqa: E402


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_settings_reference_is_generated_from_app_settings():
    assert _page("settings.md") == esi_settings_ref.render(), (
        "docs/settings.md is out of date; run: python docs/_ext/esi_settings_ref.py"
    )


def test_settings_reference_lists_every_setting_with_its_default():
    text = esi_settings_ref.render()
    for setting in SETTINGS:
        section = text.split(f"### `{setting.name}`\n", 1)[1].split("###", 1)[0]
        assert setting.doc in section
        assert f"- Default: `{setting.default!r}`" in section


def test_generator_check_mode_reports_a_stale_page(tmp_path, monkeypatch):
    stale = tmp_path / "settings.md"
    stale.write_text("# old\n")
    assert esi_settings_ref.write(stale) is True
    assert stale.read_text() == esi_settings_ref.render()
    assert esi_settings_ref.write(stale) is False
    monkeypatch.setattr(esi_settings_ref, "PAGE", tmp_path / "missing.md")
    assert esi_settings_ref.main(["--check"]) == 1


@pytest.mark.parametrize("name", sorted(GUIDE_REQUIRED | set(GUIDE_OPTIONAL) | {"ESI_USER_CONTACT_EMAIL"}))
def test_operations_guide_explains_every_guide_setting_with_its_default(name):
    default = next(s.default for s in SETTINGS if s.name == name)
    assert f"`{name}` (default `{default!r}`)" in _page("operations.md")


@pytest.mark.parametrize(
    "step",
    [
        "pip install django-esi",
        "INSTALLED_APPS",
        'path("sso/", include("esi.urls", namespace="esi"))',
        "https://developers.eveonline.com",
        "*Authenticated API Access*",
        "*Authentication Only*",
        "https://example.com/sso/callback",
        'ESI_SSO_CLIENT_ID = "my client id"',
        'ESI_SSO_CLIENT_SECRET = "my client secret"',
        'ESI_SSO_CALLBACK_URL = "https://example.com/sso/callback"',
        "python manage.py migrate",
        "pip install -U django-esi",
        "python manage.py collectstatic",
        "restart",
        "While `DEBUG` is `True` the three may stay empty",
        "cuts off every request to the game server after 10 s",
    ],
)
def test_operations_guide_covers_every_step(step):
    assert step in " ".join(_page("operations.md").split())


def test_exceptions_page_names_every_exception_and_every_django_esi_10_name():
    text = _page("exceptions.md")
    missing = [name for name in [*esi.exceptions.__all__, *esi.errors.__all__] if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"docs/exceptions.md does not mention {missing}"


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_name_the_upgrading_guide_promises_exists():
    text = _page("upgrading.md")
    dotted = sorted(set(re.findall(r"`(esi(?:_tasks)?(?:\.[A-Za-z_]\w*)+)", text)))
    assert len(dotted) > 20
    gone = []
    for name in dotted:
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            gone.append(f"{name}: {exc}")
    assert not gone, f"docs/upgrading.md promises names that do not exist: {gone}"
    from esi.models import Token

    for method in ("require_scopes", "require_scopes_exact", "require_valid", "equivalent_to", "get_expired"):
        assert callable(getattr(Token.objects.all(), method)), method
    for attr in ("valid_access_token", "refresh", "can_refresh", "expired", "expires", "get_esi_scopes"):
        assert hasattr(Token, attr), attr


def test_settings_the_upgrading_guide_calls_unread_are_not_settings():
    text = _page("upgrading.md").split("Settings no longer read", 1)[1].split("`manage.py check`", 1)[0]
    unread = set(re.findall(r"`(ESI_[A-Z_]+)`", text))
    assert {"ESI_OAUTH_LOGIN_URL", "ESI_LANGUAGES", "ESI_TOKEN_VALID_DURATION"} <= unread
    still_read = unread & {s.name for s in SETTINGS}
    assert not still_read - {
        "ESI_APP_NAME",
        "ESI_APP_VERSION",
        "ESI_APP_URL",
        "ESI_USER_CONTACT_EMAIL",
        "ESI_SSO_BASE_URL",
        "ESI_SSO_LOGIN_URL",  # named there as what still overrides the endpoints
        "ESI_CODE_EXCHANGE_URL",
    }


def test_index_toctree_lists_every_page():
    index = _page("index.md")
    entries = set(re.findall(r"^([a-z][\w-]*)$", index, flags=re.MULTILINE))
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert pages <= entries, f"pages missing from the toctree: {sorted(pages - entries)}"

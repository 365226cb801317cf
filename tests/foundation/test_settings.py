"""Every setting of the operations guide is readable with exactly its documented default."""

from __future__ import annotations

import pytest
from django.test import override_settings

from esi.app_settings import SETTINGS, esi_settings

# The operations guide's "Settings" section, as printed there (name -> documented default).
GUIDE_REQUIRED = {
    "ESI_SSO_CALLBACK_URL",
    "ESI_SSO_CLIENT_ID",
    "ESI_SSO_CLIENT_SECRET",
}
GUIDE_OPTIONAL = {
    "ESI_ALWAYS_CREATE_TOKEN": False,
    "ESI_CACHE_RESPONSE": True,
    "ESI_CONNECTION_POOL_KEEPALIVE_EXPIRY": 5,
    "ESI_CONNECTION_POOL_MAX_CONNECTIONS": 100,
    "ESI_CONNECTION_POOL_MAX_KEEPALIVE": 20,
    "ESI_REQUESTS_CONNECT_TIMEOUT": 5,
    "ESI_REQUESTS_POOL_TIMEOUT": 5,
    "ESI_REQUESTS_READ_TIMEOUT": 10,
    "ESI_REQUESTS_WRITE_TIMEOUT": 5,
    "ESI_SERVER_ERROR_MAX_RETRIES": 3,
    "ESI_SERVER_ERROR_WAIT_EXPONENT": 1,
}
DESIGN_EXTRAS = {
    "ESI_API_URL": "https://esi.evetech.net/",
    "ESI_SSO_BASE_URL": "https://login.eveonline.com",
    "ESI_SPEC_FILE": None,
    "ESI_REDIS_URL": "redis://127.0.0.1:6379/0",
}


@pytest.mark.parametrize("name,default", sorted(GUIDE_OPTIONAL.items()))
def test_guide_optional_settings_have_documented_defaults(name: str, default: object, settings) -> None:
    if hasattr(settings, name):
        delattr(settings, name)
    value = getattr(esi_settings, name)
    assert value == default and type(value) is type(default)


@pytest.mark.parametrize("name,default", sorted(DESIGN_EXTRAS.items()))
def test_design_settings_have_documented_defaults(name: str, default: object, settings) -> None:
    if hasattr(settings, name):
        delattr(settings, name)
    assert getattr(esi_settings, name) == default


def test_required_settings_are_known_and_marked_required() -> None:
    required = {s.name for s in SETTINGS if s.group == "required"}
    assert required == GUIDE_REQUIRED
    assert {"ESI_USER_CONTACT_EMAIL", *GUIDE_OPTIONAL} <= {s.name for s in SETTINGS if s.group == "optional"}


def test_every_setting_has_a_one_line_doc() -> None:
    for setting in SETTINGS:
        assert setting.doc and "\n" not in setting.doc, setting.name
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


def test_override_settings_is_seen_at_once() -> None:
    assert esi_settings.ESI_SERVER_ERROR_MAX_RETRIES == 3
    with override_settings(ESI_SERVER_ERROR_MAX_RETRIES=7):
        assert esi_settings.ESI_SERVER_ERROR_MAX_RETRIES == 7
    assert esi_settings.ESI_SERVER_ERROR_MAX_RETRIES == 3


def test_unknown_setting_is_a_clear_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"ESI_NOPE.*not an ESI setting"):
        esi_settings.ESI_NOPE

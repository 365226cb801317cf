"""System checks: each bad setting yields a message that names the setting and the fix."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning
from django.test import override_settings

from esi.checks import check_setting_values, check_sso_settings


def _ids(messages) -> set[str]:
    return {m.id for m in messages}


def test_configured_project_has_no_messages() -> None:
    assert check_sso_settings() == []
    assert check_setting_values() == []


@override_settings(ESI_SSO_CLIENT_ID="", ESI_SSO_CLIENT_SECRET="", ESI_SSO_CALLBACK_URL="", DEBUG=False)
def test_missing_sso_settings_are_errors() -> None:
    messages = check_sso_settings()
    assert len(messages) == 3 and all(isinstance(m, Error) for m in messages)
    assert {m.msg.split()[0] for m in messages} == {
        "ESI_SSO_CLIENT_ID",
        "ESI_SSO_CLIENT_SECRET",
        "ESI_SSO_CALLBACK_URL",
    }


@override_settings(ESI_SSO_CLIENT_SECRET="", DEBUG=True)
def test_missing_sso_settings_are_warnings_under_debug() -> None:
    (message,) = check_sso_settings()
    assert isinstance(message, Warning) and "ESI_SSO_CLIENT_SECRET" in message.msg


@override_settings(ESI_REQUESTS_READ_TIMEOUT="10s")
def test_wrong_type_names_setting_and_type() -> None:
    (message,) = check_setting_values()
    assert message.id == "esi.E010"
    assert "ESI_REQUESTS_READ_TIMEOUT" in message.msg and "str" in message.msg


@override_settings(ESI_CACHE_RESPONSE=1)
def test_number_where_bool_wanted_is_refused() -> None:
    assert _ids(check_setting_values()) == {"esi.E010"}


@override_settings(ESI_SERVER_ERROR_MAX_RETRIES=True)
def test_bool_where_number_wanted_is_refused() -> None:
    assert _ids(check_setting_values()) == {"esi.E010"}


@override_settings(ESI_SERVER_ERROR_MAX_RETRIES=-1, ESI_REQUESTS_CONNECT_TIMEOUT=-0.5)
def test_negative_retries_and_timeouts() -> None:
    messages = check_setting_values()
    assert [m.id for m in messages] == ["esi.E011", "esi.E011"]
    text = " ".join(m.msg for m in messages)
    assert "ESI_SERVER_ERROR_MAX_RETRIES" in text and "ESI_REQUESTS_CONNECT_TIMEOUT" in text


@override_settings(ESI_REQUESTS_READ_TIMEOUT=30)
def test_read_timeout_above_ten_seconds() -> None:
    (message,) = check_setting_values()
    assert message.id == "esi.E013" and "10" in message.hint


@override_settings(ESI_REDIS_URL="localhost:6379", ESI_API_URL="esi.evetech.net")
def test_malformed_urls() -> None:
    messages = check_setting_values()
    assert [m.id for m in messages] == ["esi.E014", "esi.E014"]
    assert {m.msg.split()[0] for m in messages} == {"ESI_REDIS_URL", "ESI_API_URL"}


@override_settings(ESI_USER_CONTACT_EMAIL="")
def test_missing_contact_email_is_a_warning() -> None:
    (message,) = check_setting_values()
    assert isinstance(message, Warning) and message.id == "esi.W010"


@override_settings(ESI_COMPATIBILITY_DATE="yesterday", ESI_DOWNTIME_START="25:99")
def test_bad_date_and_time() -> None:
    assert _ids(check_setting_values()) == {"esi.E016", "esi.E017"}


@pytest.mark.parametrize(
    ("date", "text"),
    [("2019-12-31", "is before 2020-01-01"), ("2999-01-01", "is in the future"), ("2026-8-4", "is not a date")],
)
def test_compatibility_date_out_of_range_names_the_valid_dates(date: str, text: str) -> None:
    with override_settings(ESI_COMPATIBILITY_DATE=date):
        (message,) = check_setting_values()
    assert message.id == "esi.E016" and text in message.msg and "valid dates are 2020-01-01 to" in message.msg


@override_settings(ESI_TOKEN_ENCRYPTION_KEYS=["not-a-key"], ESI_MAX_PAGES=0)
def test_bad_encryption_key_and_cap_are_refused() -> None:
    messages = check_setting_values()
    assert _ids(messages) == {"esi.E020", "esi.E012"}
    assert any("--generate-key" in (m.hint or "") for m in messages)

"""Issue 13 finding 10: tokens never reach error reports or exception messages.

The report is Django's own HTML error report (what ``AdminEmailHandler`` mails, DEBUG off),
rendered for the real exception chain of a failed refresh and of a failed ESI call.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from esi.client import EsiClient
from esi.exceptions import EsiError, SSOUnavailable, TokenRequired
from tests.sso.fixtures import ASSETS

pytestmark = pytest.mark.django_db


def _report(exc_info: Any) -> str:
    request = RequestFactory().get("/somewhere/")
    return ExceptionReporter(request, *exc_info, is_email=True).get_traceback_html()


def test_failed_refresh_report_shows_no_token(sso: Any, make_token: Any, settings: Any) -> None:
    settings.DEBUG = False
    token = make_token(expired=True)
    sso.configure_route("SsoToken", status=503)
    try:
        token.valid_access_token()
    except SSOUnavailable:
        html = _report(sys.exc_info())
    else:
        pytest.fail("SSO answered 503: the refresh must fail")
    assert "esi/sso" in html or "esi/models.py" in html  # the frames are there...
    assert token.refresh_token not in html and token.access_token not in html  # ...their secrets are not


def test_failed_call_report_shows_no_access_token(settings: Any, redis_client: Any) -> None:
    settings.DEBUG = False
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJDSEFSQUNURVI6RVZFOjkwMDAwMDAxIn0.c2VjcmV0LXNpZ25hdHVyZQ"

    def handler(request: httpx.Request) -> httpx.Response:
        raise ValueError("the network stack broke")  # not an httpx error: it escapes unmapped

    client = EsiClient(transport=httpx.MockTransport(handler))
    with pytest.raises(ValueError) as info:
        client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=secret)
    html = _report((info.type, info.value, info.tb.tb_next))  # from the client's frame down, not this test's
    assert "_transport.py" in html and secret not in html


@pytest.mark.parametrize("raw", ["abc\r\nX-Evil: 1", "tökén.with.unicode", "Bearer abc def"])
def test_malformed_raw_token_is_refused_without_echo(raw: str, redis_client: Any) -> None:
    client = EsiClient(transport=httpx.MockTransport(lambda r: pytest.fail("nothing may be sent")))
    with pytest.raises(TokenRequired) as info:
        client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=raw)
    assert raw not in str(info.value) and "abc" not in str(info.value) and "not a JWT" in str(info.value)
    assert isinstance(info.value, EsiError) and ASSETS

"""Every httpx error becomes an esi.exceptions error in the transport, with the cause chained."""

import inspect
import os

import httpx
import pytest
from django.test import override_settings

import esi
from esi.client._transport import HttpPool, user_agent
from esi.exceptions import EsiConfigurationError, EsiConnectionError, EsiError, EsiTimeout, EsiTransportError


def _httpx_exception_classes() -> list[type[BaseException]]:
    classes = {
        obj
        for obj in vars(httpx).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("httpx")
    }
    return sorted(classes, key=lambda c: c.__name__)


def _instance(cls: type[BaseException], request: httpx.Request) -> BaseException:
    if cls is httpx.HTTPStatusError:
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    params = inspect.signature(cls.__init__).parameters
    if "request" in params:
        return cls("boom", request=request)  # type: ignore[call-arg]
    if "message" in params:
        return cls("boom")  # type: ignore[call-arg]
    return cls()


def test_the_walk_finds_httpx_errors() -> None:
    names = {c.__name__ for c in _httpx_exception_classes()}
    assert {"ConnectTimeout", "ReadError", "RemoteProtocolError", "InvalidURL", "StreamConsumed"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_is_mapped(cls: type[BaseException]) -> None:
    raised: list[BaseException] = []

    def handler(request: httpx.Request) -> httpx.Response:
        exc = _instance(cls, request)
        raised.append(exc)
        raise exc

    transport = HttpPool(httpx.MockTransport(handler))
    with pytest.raises(EsiError) as info:
        transport.send("get", "http://127.0.0.1:1/status", headers={})
    assert info.value.__cause__ is raised[0]
    assert cls.__name__ in str(info.value) or info.value.__class__.__name__.startswith("Esi")


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (httpx.ConnectTimeout, EsiTimeout),
        (httpx.ReadTimeout, EsiTimeout),
        (httpx.WriteTimeout, EsiTimeout),
        (httpx.PoolTimeout, EsiTimeout),
        (httpx.ConnectError, EsiConnectionError),
        (httpx.ReadError, EsiConnectionError),
        (httpx.RemoteProtocolError, EsiConnectionError),
        (httpx.UnsupportedProtocol, EsiConfigurationError),
        (httpx.DecodingError, EsiTransportError),
    ],
)
def test_specific_mapping(cls: type[httpx.HTTPError], expected: type[EsiError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise cls("boom", request=request)

    with pytest.raises(expected):
        HttpPool(httpx.MockTransport(handler)).send("get", "http://127.0.0.1:1/status", headers={})


def test_real_connection_refused_is_mapped() -> None:
    with pytest.raises(EsiConnectionError) as info:
        HttpPool().send("get", "http://127.0.0.1:9/status", headers={})
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_bad_scheme_is_a_configuration_error() -> None:
    with pytest.raises(EsiConfigurationError, match="ESI_API_URL"):
        HttpPool().send("get", "ftp://127.0.0.1/status", headers={})


@override_settings(ESI_REQUESTS_READ_TIMEOUT=7, ESI_CONNECTION_POOL_MAX_CONNECTIONS=11)
def test_pool_and_timeouts_from_settings() -> None:
    client = HttpPool().client
    assert client.timeout.read == 7 and client.timeout.connect == 5
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == 11


def test_client_is_reused_and_rebuilt_on_settings_change() -> None:
    transport = HttpPool()
    first = transport.client
    assert transport.client is first
    with override_settings(ESI_REQUESTS_READ_TIMEOUT=3):
        assert transport.client is not first
        assert transport.client.timeout.read == 3


@override_settings(
    ESI_APP_NAME="My App", ESI_APP_VERSION="1.2", ESI_USER_CONTACT_EMAIL="me@x.org", ESI_APP_URL="https://x.org"
)
def test_user_agent_names_app_version_contact_and_library() -> None:
    assert user_agent() == f"My-App/1.2 (me@x.org; +https://x.org) django-esi/{esi.__version__}"
    headers = HttpPool().base_headers()
    assert headers["User-Agent"] == user_agent()
    assert headers["X-Compatibility-Date"] == "2026-08-04"


def test_pid_is_part_of_the_client_key() -> None:
    transport = HttpPool()
    transport.client
    assert transport._key is not None and transport._key[0] == os.getpid()

"""Alliance Auth apps build django-esi 10's errors by keyword in their code and tests; that works."""

from __future__ import annotations

import pickle

import pytest

from esi import exceptions
from esi.exceptions import (
    ESIBucketLimitException,
    ESIErrorLimitException,
    HTTPClientError,
    HTTPError,
    HTTPServerError,
)


def test_http_errors_take_status_code_headers_and_data() -> None:
    client = HTTPClientError(status_code=404, headers={"x-esi-error-limit-remain": "99"}, data="404 Not Found")
    server = HTTPServerError(status_code=502, headers={}, data="502 Bad Gateway")

    assert (client.status_code, client.status, client.data, client.body) == (404, 404, "404 Not Found", "404 Not Found")
    assert client.headers == {"x-esi-error-limit-remain": "99"}
    assert server.status_code == 502 and isinstance(server, exceptions.EsiServerError)
    assert pickle.loads(pickle.dumps(client)).status_code == 404


@pytest.mark.parametrize("error", [HTTPClientError(status_code=400), HTTPServerError(status_code=500)])
def test_except_http_error_catches_client_and_server_errors(error: Exception) -> None:
    with pytest.raises(HTTPError):
        raise error
    assert HTTPError is exceptions.EsiResponseError


def test_an_http_error_without_a_status_says_what_is_missing() -> None:
    with pytest.raises(TypeError, match="status_code"):
        HTTPClientError(headers={}, data="x")


def test_limit_errors_take_bucket_and_reset() -> None:
    bucket = ESIBucketLimitException(bucket=None, reset=1.0)
    error_limit = ESIErrorLimitException(reset=12.5)

    assert (bucket.reset, bucket.retry_after, bucket.bucket) == (1.0, 1.0, "unknown")
    assert ESIBucketLimitException(bucket="char-detail", reset=3).group == "char-detail"
    assert error_limit.reset == 12.5 and ESIErrorLimitException().reset == 60.0
    assert pickle.loads(pickle.dumps(bucket)).reset == 1.0


def test_an_error_that_also_derives_from_another_librarys_exception_can_be_built() -> None:
    # django-esi 10's names also derive from aiopenapi3's dataclass errors, whose __init__
    # takes other arguments: our __init__ chain must stop at EsiError.
    class Foreign(Exception):
        def __init__(self, status_code: int, headers: dict[str, str], data: object) -> None:
            raise AssertionError("never called")

    class Both(exceptions.EsiClientError, Foreign):
        pass

    error = Both(404, "gone", headers={})
    assert (error.status, error.body, str(error)) == (404, "gone", "ESI answered 404 to the request: 'gone'")

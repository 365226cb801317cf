"""The public surface of esi.exceptions is pinned, and every error derives from EsiError."""

import inspect

from django.core.exceptions import ImproperlyConfigured

import esi.exceptions as exc


def test_exceptions_all_is_sorted_and_complete() -> None:
    public = {name for name, obj in vars(exc).items() if inspect.isclass(obj) and obj.__module__ == exc.__name__}
    assert exc.__all__ == sorted(exc.__all__)
    assert set(exc.__all__) == public


def test_every_exception_derives_from_esi_error() -> None:
    for name in exc.__all__:
        assert issubclass(getattr(exc, name), exc.EsiError), name
    assert issubclass(exc.EsiConfigurationError, ImproperlyConfigured)


def test_every_exception_is_drawn_in_the_module_docstring() -> None:
    for name in exc.__all__:
        assert name in exc.__doc__, name


def test_status_maps_to_the_most_specific_class() -> None:
    assert exc.EsiResponseError.for_status(404) is exc.EsiNotFound
    assert exc.EsiResponseError.for_status(418) is exc.EsiClientError
    assert exc.EsiResponseError.for_status(503) is exc.EsiServerError
    error = exc.EsiResponseError.for_status(404)(404, {"error": "Character not found"}, operation="GetX")
    assert "404" in str(error) and "Character not found" in str(error) and "GetX" in str(error)


def test_limited_errors_carry_retry_after() -> None:
    error = exc.EsiRateLimited("char-location", 12.5)
    assert error.retry_after == 12.5 and error.group == "char-location" and "char-location" in str(error)
    assert exc.EsiErrorLimited(-3).retry_after == 0.0

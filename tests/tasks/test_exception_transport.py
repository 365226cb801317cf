"""ESI errors survive Celery's result backend (JSON): ``.get()`` raises the same class and message."""

from __future__ import annotations

import json
import pickle

import pytest

from esi import exceptions as E

SAMPLES = [
    E.UnknownOperation("GetStatuss", ["GetStatus"]),
    E.InvalidParameter("GetX: parameter 'a' must be an integer.", operation="GetX", parameter="a"),
    E.MissingScope("needs esi-assets.read_assets.v1", operation="GetX", scopes=["esi-assets.read_assets.v1"]),
    E.TokenRequired("GetX needs a token"),
    E.EsiRateLimited("char-asset", 12.5),
    E.EsiErrorLimited(3.0),
    E.EsiErrorLimited(30.0, "ESI is in its daily downtime"),
    E.EsiNotFound(404, {"error": "Not found"}, operation="GetX", headers={"x-esi-error-limit-remain": "99"}),
    E.EsiForbidden(403, {"error": "Forbidden"}, operation="GetX", message="ESI answered 403 (remembered: ...)"),
    E.EsiServerError(502, {"error": "No reply within 10 seconds"}, operation="GetStatus"),
    E.EsiTimeout("timed out"),
    E.EsiRetryLater(45.0, status=503),
    E.EsiSnapshotChanged("GetMarketsRegionIdOrders: page 3 has another Last-Modified"),
    E.NoTokenError("No usable token"),
    E.TokenInvalidError("refused"),
    E.SSOUnavailable("SSO down"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=[type(e).__name__ + str(i) for i, e in enumerate(SAMPLES)])
def test_error_survives_the_result_backend(error, celery_app):
    backend = celery_app.backend
    stored = json.loads(json.dumps(backend.prepare_exception(error, "json")))
    rebuilt = backend.exception_to_python(stored)
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    attrs = ["status", "body", "group", "retry_after", "suggestions"]
    if isinstance(error, E.EsiResponseError | E.UnknownOperation):
        attrs.append("operation")  # request errors keep only their message
    for attr in attrs:
        if hasattr(error, attr):
            assert getattr(rebuilt, attr) == getattr(error, attr), attr
    assert str(pickle.loads(pickle.dumps(error))) == str(error)

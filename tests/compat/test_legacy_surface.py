"""The django-esi 10 surface at the edge: Alliance Auth's ``except`` clauses catch what an ESI
error raises through it, old names warn once, and the core never loads the layer."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from aiopenapi3.errors import HTTPClientError as Aiopenapi3ClientError
from aiopenapi3.errors import HTTPError as Aiopenapi3HTTPError

from esi.exceptions import EsiClientError, EsiNotFound, EsiResponseError, EsiServerError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from esi.exceptions import HTTPClientError, HTTPNotModified, HTTPServerError
    from esi.openapi_clients import ESIClientProvider

pytestmark = pytest.mark.usefixtures("redis_client")

ROOT = Path(__file__).resolve().parents[2]
ROOT_ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def provider() -> ESIClientProvider:
    return ESIClientProvider("2025-08-26", "legacy-surface", "1.0")


def test_an_esi_404_through_the_provider_is_caught_by_every_old_and_new_except(esi_sim, provider) -> None:
    esi_sim.configure_route("GetUniverseTypesTypeId", status=404)
    with pytest.raises(Aiopenapi3HTTPError) as info:  # Alliance Auth: from aiopenapi3.errors import HTTPError
        provider.client.Universe.GetUniverseTypesTypeId(type_id=34).result()
    error = info.value
    assert isinstance(error, HTTPClientError) and isinstance(error, Aiopenapi3ClientError)
    assert isinstance(error, EsiClientError) and isinstance(error, EsiResponseError)
    assert isinstance(error.__cause__, EsiNotFound)  # what the core raised, chained
    assert error.status_code == 404 and error.data == error.body and error.data["error"]
    assert error.headers["content-type"].startswith("application/json")
    assert error.operation == "GetUniverseTypesTypeId"


def test_a_5xx_after_the_retries_is_the_old_server_error(esi_sim, provider, settings) -> None:
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 0
    esi_sim.configure_route("GetStatus", status=503)
    with pytest.raises(HTTPServerError) as info:
        provider.client.Status.GetStatus().result()
    assert isinstance(info.value, EsiServerError) and isinstance(info.value, Aiopenapi3HTTPError)
    assert info.value.status_code == 503


def test_old_errors_are_built_as_django_esi_10_and_its_apps_build_them() -> None:
    error = HTTPClientError(status_code=404, headers={"x-esi-error-limit-remain": "99"}, data={"error": "nope"})
    assert (error.status_code, error.headers, error.data) == (
        404,
        {"x-esi-error-limit-remain": "99"},
        {"error": "nope"},
    )
    assert "404" in str(error) and "nope" in str(error)
    positional = HTTPServerError(502, {}, "Bad Gateway")
    assert (positional.status_code, positional.data) == (502, "Bad Gateway")
    assert {error, positional} and error != HTTPClientError(404, {}, {"error": "nope"})  # hashable, by identity
    not_modified = HTTPNotModified(status_code=304, headers={"etag": "x"})
    assert (not_modified.status_code, not_modified.headers) == (304, {"etag": "x"})
    assert isinstance(not_modified, Aiopenapi3HTTPError)


def test_old_names_warn_once_and_name_their_replacement() -> None:
    code = (
        "import warnings, django; django.setup()\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    from esi.errors import TokenExpiredError\n"
        "    from esi.errors import TokenExpiredError\n"
        "    from esi.exceptions import HTTPClientError\n"
        "    from esi.decorators import _check_callback\n"
        "    from esi.openapi_clients import ESIClientProvider\n"
        "for w in seen:\n"
        "    print(w.category.__mro__[1].__name__, '|', w.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=ROOT_ENV, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 4, out  # TokenExpiredError once
    assert all(line.startswith("DeprecationWarning |") for line in lines)
    assert "esi.errors.TokenExpiredError" in lines[0] and "esi.exceptions.NotRefreshableError" in lines[0]
    assert "esi.exceptions.EsiClientError" in lines[1]
    assert "esi.login.take_callback_token" in lines[2]
    assert "esi.client.get_client" in lines[3]


def test_the_core_never_loads_the_compatibility_layer() -> None:
    code = (
        "import sys, django; django.setup()\n"
        "import esi.client, esi.sso, esi.models, esi.managers, esi.views, esi.admin, esi.decorators\n"
        "import esi.exceptions, esi_tasks.tasks, esi_tasks.admin\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('esi.compat.', 'aiopenapi3')))\n"
        "print(','.join(m for m in loaded if m != 'esi.compat._deprecation'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=ROOT_ENV, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""

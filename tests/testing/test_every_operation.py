"""Every operation of both bundled views answers over HTTP with JSON valid against its response schema."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from esi.testing import SimulatorControl
from esi.testing._routes import Route, load_views

from .conftest import bearer

VIEWS = load_views()


def _url_and_query(route: Route) -> tuple[str, dict[str, Any]]:
    path = route.path
    for p in route.path_params:
        known = {"character_id": "90000001", "corporation_id": "98000001"}  # the token's character and corporation
        value = known.get(p.name) or ("abc123" if p.type == "string" else "7")
        path = path.replace("{" + p.name + "}", value)
    query: dict[str, Any] = {}
    for p in route.query_params:
        if p.required and p.default is None:
            if p.enum:
                query[p.name] = p.enum[0]
            elif p.type == "integer":
                query[p.name] = 7
            elif p.type == "array":
                query[p.name] = "1"
            else:
                query[p.name] = "abc"
    return path, query


def _any_of(node: Any) -> Any:
    """ESI's oneOf variants have no required fields, so every object matches all: check them as anyOf."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_of(v) for v in node]
    return node


def _body(route: Route) -> Any:
    body = route.spec.get("requestBody")
    if not body:
        return None
    return [90000001] if "array" in str(body) else {}


@pytest.mark.parametrize("date", ["2020-01-01", "2026-08-04"])
def test_every_operation_answers_schema_valid_json(http: httpx.Client, esi_sim: SimulatorControl, date: str) -> None:
    view = VIEWS.view(date)
    scopes = sorted({s for r in view.router.routes.values() for s in r.scopes})
    headers = {**bearer(esi_sim.issue_tokens(90000001, scopes)), "X-Compatibility-Date": date}
    checked = 0
    for route in view.router.routes.values():
        path, query = _url_and_query(route)
        body = _body(route)
        r = http.request(route.method, path, params=query, headers=headers, json=body)
        assert r.status_code == route.success_status, (route.operation, r.status_code, r.text)
        assert r.headers["x-compatibility-date"] == route.compatibility_date
        if route.schema is None:
            continue
        schema = _any_of({**route.schema, "components": route.document["components"]})
        jsonschema.validate(r.json(), schema, cls=jsonschema.Draft202012Validator)
        checked += 1
    assert checked > 150
    assert esi_sim.stats()["total"] == len(view.router.routes)

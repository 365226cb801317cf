"""django-esi 10's ``ESIClientProvider``, as a thin layer over :func:`esi.client.get_client`.

Code written for django-esi 10 keeps working unchanged::

    from esi.openapi_clients import ESIClientProvider

    esi = ESIClientProvider(compatibility_date="2025-08-26", ua_appname="myapp", ua_version="1.0")
    status = esi.client.Status.GetStatus().result()
    status.players                     # attribute access still works (and status["players"])
    orders = esi.client.Market.GetMarketsRegionIdOrders(region_id=10000002).results()

Every call goes through the one process-wide client, so caching, retries, pagination and the
shared limits are those of :mod:`esi.client`. Deliberate differences from django-esi 10 (see
``docs/upgrading.md``): a 304 returns the stored data instead of raising ``HTTPNotModified``;
as in django-esi 10, a 5xx answer is raised at once (only timeouts and broken connections are
retried). Each provider's ``compatibility_date``, ``spec_file`` and User-Agent (``ua_appname``,
``ua_version``, ``ua_url``) pick its client, ``get_client(compatibility_date, spec_file=...,
user_agent=..., retry_server_errors=False)``: operations resolve against that date's view and
every request carries that date and that User-Agent.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import esi
from esi._dates import check_date
from esi.app_settings import esi_settings
from esi.client import EsiClient, EsiResponse, get_client
from esi.compat.errors import legacy_http_error
from esi.exceptions import EsiResponseError, InvalidParameter, OperationNotInView, UnknownOperation

__all__ = [
    "ESIClient",
    "ESIClientProvider",
    "ESITag",
    "EsiObject",
    "EsiOperation",
    "LegacyResponse",
    "provider_user_agent",
]

logger = logging.getLogger(__name__)

# Header parameters django-esi 10 accepted as keyword arguments (any case, ``-`` or ``_``);
# the client sets them itself. ``datasource`` is the swagger-era way to name the tenant.
_CLIENT_HEADER_KEYS = frozenset(
    {"if_none_match", "x_compatibility_date", "x_tenant", "if_modified_since", "datasource"}
)
_TENANT = "tranquility"


class EsiObject(dict[str, Any]):
    """A JSON object that also reads as attributes, like django-esi 10's response models.

    A field the operation's response schema declares but ESI left out reads as ``None`` (as an
    unset optional field of django-esi 10's pydantic models did); any other missing name is an
    ``AttributeError`` naming the fields there are.
    """

    __slots__ = ("_declared",)

    def __init__(self, items: Iterable[tuple[str, Any]] = (), declared: Iterable[str] = ()) -> None:
        super().__init__(items)
        self._declared = frozenset(declared)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if not name.startswith("_") and name in self._declared:
                return None
            raise AttributeError(f"ESI's answer has no field {name!r}; it has: {', '.join(self)}") from None

    def __reduce__(self) -> Any:
        return (EsiObject, (list(self.items()), sorted(self._declared)))

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        """A plain dict (pydantic's name, which django-esi 10's models had); ``mode="json"``
        gives dates as ISO strings, as ESI sent them."""
        if mode not in ("python", "json"):
            raise ValueError(f"model_dump: mode must be 'python' or 'json', not {mode!r}")
        plain: dict[str, Any] = _plain(self, json=mode == "json")
        return plain


class _Schemas:
    """Reads the response schema of an operation from the spec, following ``$ref``s."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._doc = document

    def deref(self, node: Any) -> Mapping[str, Any]:
        for _ in range(10):
            ref = node.get("$ref") if isinstance(node, Mapping) else None
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            target: Any = self._doc
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            node = target
        return node if isinstance(node, Mapping) else {}

    def response(self, path: str, method: str) -> Mapping[str, Any]:
        responses = self.deref(self._doc["paths"][path][method]).get("responses") or {}
        ok = self.deref(next((responses[s] for s in ("200", "201") if s in responses), {}))
        return self.deref(((ok.get("content") or {}).get("application/json") or {}).get("schema") or {})


def _wrap(data: Any, schema: Mapping[str, Any] | None = None, schemas: _Schemas | None = None) -> Any:
    """JSON -> :class:`EsiObject` for objects, following ``schema`` to know their declared fields."""
    schema = schemas.deref(schema) if schemas is not None and schema else {}
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        return EsiObject(((k, _wrap(v, properties.get(k), schemas)) for k, v in data.items()), properties)
    if isinstance(data, list):
        return [_wrap(v, schema.get("items"), schemas) for v in data]
    if isinstance(data, str) and schema.get("format") in _PARSERS:
        try:
            return _PARSERS[schema["format"]](data)
        except ValueError:
            return data  # not what the schema says: left as ESI sent it
    return data


#: django-esi 10's models gave ``date-time`` and ``date`` fields as ``datetime``/``date`` objects.
_PARSERS: dict[str, Any] = {"date-time": dt.datetime.fromisoformat, "date": dt.date.fromisoformat}


def _plain(data: Any, json: bool = False) -> Any:
    if isinstance(data, dict):
        return {k: _plain(v, json) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v, json) for v in data]
    if json and isinstance(data, dt.datetime):
        return data.isoformat().replace("+00:00", "Z")  # as ESI writes them
    if json and isinstance(data, dt.date):
        return data.isoformat()
    return data


class LegacyResponse:
    """What ``return_response=True`` returns next to the data: ``status_code`` and ``headers``
    like django-esi 10's httpx response, plus every attribute of :class:`~esi.client.EsiResponse`."""

    def __init__(self, response: EsiResponse) -> None:
        self.response = response

    @property
    def status_code(self) -> int:
        return self.response.status

    def __getattr__(self, name: str) -> Any:
        return getattr(self.response, name)

    def __repr__(self) -> str:
        return f"<LegacyResponse {self.response.operation} {self.response.status}>"


class EsiOperation:
    """``client.Tag.Operation``; call it with the parameters, then ``.result()`` or ``.results()``."""

    def __init__(self, tag: str, operation_id: str, esi: EsiClient | None = None) -> None:
        self.tag = tag
        self.operation_id = operation_id
        self._kwargs: dict[str, Any] = {}
        self._esi = esi or get_client()

    def __repr__(self) -> str:
        return f"<EsiOperation {self.tag}.{self.operation_id}>"

    def __call__(self, *args: Any, **kwargs: Any) -> EsiOperation:
        if args:
            raise InvalidParameter(
                f"{self.operation_id} takes keyword arguments only, e.g. "
                f"{self.operation_id}(character_id=...); got {len(args)} positional.",
                operation=self.operation_id,
            )
        self._kwargs = kwargs
        return self

    def required_scopes(self) -> list[str]:
        """The scopes a token needs for this operation (empty for public ones)."""
        return list(self._esi.spec.get(self.operation_id).scopes)

    def _fetch(self, extra: Mapping[str, Any], *, all_pages: bool, return_response: bool, force_refresh: bool) -> Any:
        """One call through the shared client: ``result()`` and ``results()`` differ only in ``all_pages``."""
        params: dict[str, Any] = {}
        language = None
        for key, value in {**self._kwargs, **extra}.items():
            pythonic = key.lower().replace("-", "_")
            if pythonic == "accept_language":
                language = value
            elif pythonic not in _CLIENT_HEADER_KEYS:
                params[key] = value
        try:
            response = self._esi.call(
                self.operation_id, all_pages=all_pages, language=language, force_refresh=force_refresh, **params
            )
        except EsiResponseError as exc:  # django-esi 10's classes (also aiopenapi3's HTTPError)
            raise legacy_http_error(exc) from exc
        data = response.data
        if all_pages and not isinstance(data, list):
            data = [data]  # django-esi 10: results() of a single object is a one-item list
        schemas = _Schemas(self._esi.spec.document)
        path, method = self._esi.spec.locations[self.operation_id]
        schema = schemas.response(path, method)
        data = _wrap(
            data, {"type": "array", "items": schema} if all_pages and schema.get("type") != "array" else schema, schemas
        )
        return (data, LegacyResponse(response)) if return_response else data

    def result(
        self,
        use_etag: bool = True,
        return_response: bool = False,
        force_refresh: bool = False,
        use_cache: bool = True,
        store_cache: bool = True,
        last_modified: dt.datetime | None = None,
        **extra: Any,
    ) -> Any:
        """The decoded body of one page; ``(data, response)`` with ``return_response=True``.

        ``force_refresh`` or ``use_cache=False`` skip the stored copy. ``use_etag``,
        ``store_cache`` and ``last_modified`` are accepted for django-esi 10 code; the client
        always revalidates with the stored ETag and stores what ESI allows.
        """
        refresh = force_refresh or not use_cache
        return self._fetch(extra, all_pages=False, return_response=return_response, force_refresh=refresh)

    def results(
        self,
        use_etag: bool = True,
        return_response: bool = False,
        force_refresh: bool = False,
        use_cache: bool = True,
        store_cache: bool = True,
        last_modified: dt.datetime | None = None,
        **extra: Any,
    ) -> Any:
        """Every page joined into one list (a single object comes back as a one-item list); as :meth:`result`."""
        refresh = force_refresh or not use_cache
        return self._fetch(extra, all_pages=True, return_response=return_response, force_refresh=refresh)

    def results_localized(self, languages: Iterable[str] | str | None = None, **kwargs: Any) -> dict[str, Any]:
        """``results()`` once per language: ``{"en": [...], "de": [...]}`` (all ESI languages by default)."""
        supported = self._esi.spec.languages
        if languages is None:
            wanted = list(supported)
        else:
            wanted = list(dict.fromkeys([languages] if isinstance(languages, str) else languages))
            unknown = [lang for lang in wanted if lang not in supported]
            if unknown:
                raise InvalidParameter(
                    f"{self.operation_id}: language(s) {', '.join(map(repr, unknown))} not supported by ESI; "
                    f"use any of {', '.join(supported)}.",
                    operation=self.operation_id,
                    parameter="languages",
                )
        return {lang: self.results(accept_language=lang, **kwargs) for lang in wanted}


class ESITag:
    """``client.<Tag>``: the operations of one ESI tag (``Planetary_Interaction`` works too)."""

    def __init__(self, name: str, operation_ids: Iterable[str], esi: EsiClient | None = None) -> None:
        self.name = name
        self._ids = list(operation_ids)
        self._esi = esi or get_client()

    def __repr__(self) -> str:
        return f"<ESITag {self.name}: {len(self._ids)} operations>"

    def __dir__(self) -> list[str]:
        return sorted(self._ids)

    def __getattr__(self, name: str) -> EsiOperation:
        if name.startswith("_"):
            raise AttributeError(name)
        op_id = self._esi.spec.resolve(name)
        if op_id is None:
            error = self._esi.spec.unknown(name, f"{self.name}.{name}")
            if isinstance(error, OperationNotInView):  # the route is in other dates' views
                raise error
        if op_id is None or op_id not in self._ids:
            close = difflib.get_close_matches(name, self._ids, n=3, cutoff=0.4)
            raise UnknownOperation(f"{self.name}.{name}", close or sorted(self._ids)[:5])
        return EsiOperation(self.name, op_id, self._esi)


class ESIClient:
    """``provider.client``: ESI's tags as attributes, limited to the provider's tags/operations."""

    def __init__(self, tags: Mapping[str, list[str]], esi: EsiClient | None = None) -> None:
        self._tags = dict(tags)
        self._esi = esi or get_client()

    def __repr__(self) -> str:
        return f"<ESIClient {len(self._tags)} tags>"

    def __dir__(self) -> list[str]:
        return sorted(tag.replace(" ", "_") for tag in self._tags)

    def __getattr__(self, name: str) -> ESITag:
        if name.startswith("_"):
            raise AttributeError(name)
        tag = name.replace("_", " ")
        if tag not in self._tags:
            close = difflib.get_close_matches(tag, list(self._tags), n=3, cutoff=0.4)
            hint = f" Did you mean: {', '.join(t.replace(' ', '_') for t in close)}?" if close else ""
            raise AttributeError(f"ESI has no tag {name!r} in this client.{hint}")
        return ESITag(tag, self._tags[tag], self._esi)


class ESIClientProvider:
    """One ESI client for an app, as in django-esi 10.

    ``compatibility_date`` (``YYYY-MM-DD`` or a date) and ``spec_file`` pick the client,
    ``get_client(compatibility_date, spec_file=spec_file)``: its date's view, its date on every
    request. ``ua_appname``, ``ua_version`` and ``ua_url`` make its User-Agent as django-esi 10
    did (:func:`provider_user_agent`, with ``ESI_USER_CONTACT_EMAIL``). Other django-esi 10
    keyword arguments are accepted and ignored. ``operations``/``tags`` limit what ``.client``
    offers, and are checked against the view when ``.client`` is first used.
    """

    def __init__(
        self,
        compatibility_date: str | dt.date,
        ua_appname: str,
        ua_version: str,
        ua_url: str | None = None,
        spec_file: str | None = None,
        tenant: str = _TENANT,
        operations: list[str] | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._compatibility_date = check_date(compatibility_date)
        if not isinstance(ua_appname, str) or not ua_appname.strip():
            raise InvalidParameter("ESIClientProvider needs ua_appname, your app's name.", parameter="ua_appname")
        if tenant != _TENANT:
            raise InvalidParameter(
                f"ESIClientProvider: tenant {tenant!r} is not supported; django-esi calls the ESI at "
                "ESI_API_URL (tranquility). Point ESI_API_URL elsewhere to use another server.",
                parameter="tenant",
            )
        self._ua_appname = ua_appname
        self._ua_version = ua_version
        self._ua_url = ua_url
        self._spec_file = spec_file
        self._operations = list(operations or [])
        self._tags = list(tags or [])
        self._client: ESIClient | None = None

    def __str__(self) -> str:
        return f"ESIClientProvider - {self._ua_appname} ({self._ua_version})"

    @property
    def client(self) -> ESIClient:
        """The tag/operation accessor over ``get_client(compatibility_date, spec_file=...)``."""
        if self._client is None:
            ua = provider_user_agent(self._ua_appname, self._ua_version, self._ua_url)
            esi = get_client(
                self._compatibility_date,
                spec_file=self._spec_file,
                user_agent=ua,
                retry_server_errors=False,
                remember_errors=False,
            )
            self._client = ESIClient(self._select(esi), esi)
        return self._client

    def _select(self, esi: EsiClient) -> dict[str, list[str]]:
        spec = esi.spec
        all_tags = spec.tags
        if not self._operations and not self._tags:
            return {tag: list(ids) for tag, ids in all_tags.items()}
        by_lower = {tag.lower(): tag for tag in all_tags}
        selected: dict[str, list[str]] = {}
        for name in self._tags:
            tag = by_lower.get(name.replace("_", " ").lower())
            if tag is None:
                close = difflib.get_close_matches(name, list(all_tags), n=3, cutoff=0.4)
                raise InvalidParameter(
                    f"ESIClientProvider: ESI has no tag {name!r}."
                    + (f" Did you mean: {', '.join(close)}?" if close else f" Tags are: {', '.join(all_tags)}."),
                    parameter="tags",
                )
            selected[tag] = list(all_tags[tag])
        for name in self._operations:
            op = spec.get(name)  # UnknownOperation names the closest operationIds
            for tag in op.tags or ["Untagged"]:
                ids = selected.setdefault(tag, [])
                if op.id not in ids:
                    ids.append(op.id)
        return selected


def provider_user_agent(appname: str, version: str, url: str | None = None) -> str:
    """django-esi 10's User-Agent of a provider: ``AppName/1.0 (contact; +url) DjangoEsi/10.x (+url)``.

    The app's name in PascalCase and the contact from ``ESI_USER_CONTACT_EMAIL``, as CCP asks.
    """
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[\s_\-]+", appname.strip()) if part)
    contact = "; ".join(c for c in (esi_settings.ESI_USER_CONTACT_EMAIL, f"+{url}" if url else "") if c)
    return f"{name}/{version} ({contact}) DjangoEsi/{esi.__version__} (+{esi.__url__})"

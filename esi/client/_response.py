"""What every call returns: the decoded body plus the caching facts a caller may need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EsiResponse"]


@dataclass(slots=True)
class EsiResponse:
    """One ESI answer (or several pages joined).

    ``from_cache``: served from Redis without HTTP. ``not_modified``: ESI answered 304 to our
    ``If-None-Match`` and the stored body is returned (``status`` is 304). ``page``: which page
    of a crawl this is (``iter_pages``); None for a single call or joined pages.
    """

    data: Any
    status: int
    operation: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    etag: str | None = None
    expires: dt.datetime | None = None
    last_modified: dt.datetime | None = None
    pages: int | None = None
    from_cache: bool = False
    not_modified: bool = False
    page: int | None = None

"""Many tokens, one after the other, at two SQL statements each.

The rows are loaded :data:`CHUNK` at a time (one SELECT per chunk, not one per token); each
token then costs what :func:`esi.tokens.refresh` costs: the locked re-read and one UPDATE. Used
by the sweep's lanes, ``esi_refresh_tokens`` and ``Token.objects.bulk_refresh()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from django.apps import apps

from esi.tokens._outcome import Outcome, RefreshResult
from esi.tokens._refresh import Renewal, refresh

if TYPE_CHECKING:
    from esi.models import Token

__all__ = ["CHUNK", "refresh_many"]

#: Rows loaded by one SELECT.
CHUNK = 500


def refresh_many(
    token_ids: Iterable[int],
    *,
    force: bool = True,
    renewed: Renewal | None = None,
    stop_when_unavailable: bool = False,
) -> Iterator[RefreshResult]:
    """Refresh ``token_ids`` in order, yielding one result each (``MISSING`` for a deleted row).

    ``renewed`` skips tokens a killed run of the same sweep already renewed (``FRESH``);
    ``stop_when_unavailable`` ends at the first ``UNAVAILABLE`` (SSO or Redis down: do not keep
    sending the rest), as ``bulk_refresh()`` does.
    """
    model: type[Token] = apps.get_model("esi", "Token")
    ids = list(token_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = {token.pk: token for token in model.objects.filter(pk__in=chunk)}
        for pk in chunk:
            token = rows.get(pk)
            if token is None:
                result = RefreshResult(pk, Outcome.MISSING)
            else:
                result = refresh(token, force=force, renewed=renewed)
            yield result
            if stop_when_unavailable and result.outcome.retry_later:
                return

"""Stored tokens: the one refresh, its outcome and error policy, login storage, sweeps.

Every way of renewing a token goes through :func:`refresh` (or :func:`ensure_fresh`, which raises
instead): ``Token.valid_access_token()``, ``refresh()``, ``refresh_or_delete()``,
``update_token_data()``, ``Token.objects.require_valid()`` / ``bulk_refresh()``, the decorators,
the ``esi_tasks`` tasks and sweeps and the commands. What each failure means (dead, try later,
raise) is decided once, in :func:`outcome_of` (the table is in :mod:`esi.tokens._outcome`).
:func:`refresh_many` renews many tokens at two SQL statements each, with a
:class:`SweepRecorder` keeping their progress in Redis. A :class:`Pool` lets the characters of
one corporation serve its routes in turn (:func:`pick_from_pool`,
:func:`refuse_in_pool`, :func:`forget_refusals`).

Importing this package does not touch the models, so it is safe before Django's apps are ready;
``esi.sso`` below it is the OAuth/JWT layer and knows nothing of them.
"""

from esi.tokens._lock import LOCK_WAIT, lock_timeout, token_lock
from esi.tokens._outcome import Outcome, RefreshResult, outcome_of
from esi.tokens._pools import Pool, forget_refusals, pick_from_pool, pool_refusals, refuse_in_pool
from esi.tokens._progress import PROGRESS_TTL, SweepProgress, SweepRecorder, sweep_progress
from esi.tokens._refresh import Renewal, ensure_fresh, refresh
from esi.tokens._store import check_readable, delete_token, remove_other_owners, revoke, store_login
from esi.tokens._sweep import refresh_many

__all__ = [  # noqa: RUF022  (plain sorted(), as the API tests pin)
    "LOCK_WAIT",
    "Outcome",
    "PROGRESS_TTL",
    "Pool",
    "RefreshResult",
    "Renewal",
    "SweepProgress",
    "SweepRecorder",
    "check_readable",
    "delete_token",
    "ensure_fresh",
    "forget_refusals",
    "lock_timeout",
    "outcome_of",
    "pick_from_pool",
    "pool_refusals",
    "refresh",
    "refresh_many",
    "refuse_in_pool",
    "remove_other_owners",
    "revoke",
    "store_login",
    "sweep_progress",
    "token_lock",
]

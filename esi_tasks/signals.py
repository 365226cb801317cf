"""Signals of the task layer, sent in the worker process that ran the fetch.

``endpoint_fetched``
    After every successful :func:`esi_tasks.tasks.fetch_endpoint` (and keep-fresh / scheduled
    fetch). Arguments: ``operation`` (operationId), ``params`` (dict), ``data`` (decoded JSON),
    ``meta`` (dict: ``status``, ``etag``, ``expires`` (ISO string or None), ``last_modified``,
    ``pages``, ``from_cache``, ``not_modified``), ``token_id`` (or None) and ``task_id``.

``endpoint_changed``
    Right after ``endpoint_fetched``, only when the data of that resource (operation, parameters,
    language, date, character; joined pages count as one resource) changed since its last fetch:
    never for a 304, a copy from the cache or an equal body (:mod:`esi_tasks.changes`). Arguments:
    those of ``endpoint_fetched``, plus ``first_seen`` (True: nothing to compare with, the first
    fetch or its state expired), ``previous_etag`` and ``previous_last_modified`` (ISO string) of
    the last fetch (None when ``first_seen``), and ``diff``: an :class:`esi_tasks.changes.Diff`
    (``added``, ``removed``, ``changed`` as ``(before, after)`` pairs, ``id_field``) for operations
    in ``ESI_CHANGE_DIFFS`` whose body is a list, else None. A streamed crawl (``on_page``) is
    compared as a whole by its pages' hashes: ``data`` is its summary and ``diff`` always None.
    See docs/changes.md.

``page_fetched``
    For every page of a streamed crawl (``fetch_endpoint(..., on_page=...)``), as it arrives,
    before the next pages: ``operation``, ``params``, ``data`` (that page's decoded JSON),
    ``page``, ``pages``, ``etag``, ``last_modified``, ``expires`` (ISO strings) and ``token_id``.

``fetch_failed``
    When a fetch finally fails: bad input, a remembered or fresh 4xx, retries used up.
    Arguments: ``operation``, ``params``, ``token_id``, ``exception`` and ``task_id``.
    Not sent for a re-queue on a rate or error limit (that is not a failure).

Receivers run inside the task: keep them quick, or enqueue your own task from them.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["endpoint_changed", "endpoint_fetched", "fetch_failed", "page_fetched"]

endpoint_fetched = Signal()
endpoint_changed = Signal()
page_fetched = Signal()
fetch_failed = Signal()

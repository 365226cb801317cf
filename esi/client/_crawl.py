"""Crawls as loops over prepared page calls: ``X-Pages`` in a sliding window, cursor and from_id walks.

Each page is the same :class:`PreparedCall` with another ``page`` (or cursor) value, sent by the
client's ``send``; nothing is looked up or validated again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from esi.client._pagination import (
    CursorWalk,
    FromIdWalk,
    PageSlots,
    check_page,
    check_pages,
    in_slot,
    page_progress,
)
from esi.client._prepared import PreparedCall
from esi.client._response import EsiResponse
from esi.exceptions import EsiNotFound, EsiSnapshotChanged

__all__ = ["Send", "walk", "x_pages"]

#: ``EsiClient.send``: one request of a prepared call.
Send = Callable[[PreparedCall], EsiResponse]


def x_pages(send: Send, prepared: PreparedCall, concurrency: int) -> Iterator[EsiResponse]:
    """Page 1, then pages 2..N as they arrive (a sliding window of ``ESI_PAGE_CONCURRENCY``)."""
    op = prepared.operation
    call = prepared.resolved()  # the access token is fetched once, before the threads need it
    report = page_progress.get()
    first = replace(send(call.page(1)), page=1)
    total = first.pages or 1
    if report is not None:
        report(op.id, total)
    yield first
    if total <= 1:
        return
    check_pages(op, total)
    width = min(concurrency, total - 1)
    held = min(2 * width, total - 1)  # pages in a slot (cache read, request) <= width; the others store
    slots = PageSlots(width, first=2)
    running: dict[Future[EsiResponse], int] = {}
    following = 2
    with ThreadPoolExecutor(max_workers=held, thread_name_prefix="esi-page") as pool:
        try:
            while following <= total or running:
                while following <= total and len(running) < held:
                    context = contextvars.copy_context()  # the caller's wait limit applies in the threads
                    nxt = call.page(following)
                    running[pool.submit(context.run, in_slot, slots, following, send, nxt)] = following
                    following += 1
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=running.__getitem__):
                    n = running.pop(future)
                    try:
                        page = future.result()
                    except EsiNotFound as exc:  # the snapshot shrank under us
                        raise EsiSnapshotChanged(f"{op.id}: page {n} of {total} is gone") from exc
                    check_page(first, page, n)
                    if report is not None:
                        report(op.id, total)
                    yield replace(page, page=n)
        finally:
            slots.close()  # threads still waiting for a slot end at once
            for future in running:
                future.cancel()


def walk(send: Send, prepared: PreparedCall, *, yield_steps: bool) -> Iterator[EsiResponse]:
    """A cursor or from_id walk: each step's answer (``yield_steps``), else only the joined result."""
    walk = CursorWalk(prepared) if prepared.operation.paginated == "cursor" else FromIdWalk(prepared)
    step: PreparedCall | None = prepared.resolved()
    while step is not None:
        answer = send(step)
        if yield_steps:
            yield answer
        step = walk.step(step, answer)
    if not yield_steps:
        yield walk.result()

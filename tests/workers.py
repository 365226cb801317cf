"""One in-process Celery worker (threads pool) for the whole test session, drained between tests.

Starting and stopping a worker costs about a second and a half a test; the worker's own state is
what a later test could inherit, so every test ends by draining it: it stops consuming (between
tests, other workers of a test get every message), the queues are purged, tasks waiting for their
ETA (retries, keep-fresh hops) are revoked, and the tasks already taken are waited for. A test
that leaves a task running past the drain gets an error, and the next test a new worker. Tests
that need a worker of their own (other settings, killed workers, prefork) start one themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from celery.contrib.testing.worker import start_worker, test_worker_starting
from celery.worker import state as worker_state
from celery.worker.request import Request

from tests.celery_app import app

QUEUES = ["esi_tokens", "esi", "celery"]
DRAIN_TIMEOUT = 30.0


class SessionWorker:
    """Starts the worker on first use; :meth:`for_test` hands it to one test and drains it after."""

    def __init__(self) -> None:
        self._context: AbstractContextManager[Any] | None = None
        self.worker: Any = None
        self._starting = False
        test_worker_starting.connect(self._another_worker_starts, weak=False)

    def _another_worker_starts(self, sender: Any = None, **kwargs: Any) -> None:
        """A test starts an in-process worker of its own: two would share Celery's process state."""
        if not self._starting:
            self.stop()

    def _start(self) -> Any:
        if self.worker is None:
            self._starting = True
            context = start_worker(
                app,
                pool="threads",
                concurrency=4,
                queues=QUEUES,
                perform_ping_check=True,
                shutdown_timeout=30,
                loglevel="WARNING",
            )
            try:
                self.worker = context.__enter__()
            finally:
                self._starting = False
            self._context = context
        return self.worker

    def stop(self) -> None:
        context, self._context, self.worker = self._context, None, None
        if context is not None:
            context.__exit__(None, None, None)

    def close(self) -> None:
        test_worker_starting.disconnect(self._another_worker_starts)
        self.stop()

    def for_test(self) -> Iterator[Any]:
        worker = self._start()
        _declare_queues()  # again: a test may have flushed the database with its bindings
        _consume(worker, "add_consumer")
        yield worker
        _consume(worker, "cancel_consumer")  # between tests it takes nothing other workers should
        if not self.drain(worker):
            self.stop()
            raise AssertionError(f"the test left Celery tasks running after {DRAIN_TIMEOUT} s; worker restarted")

    def drain(self, worker: Any) -> bool:
        """Purge the queues, revoke what waits for its ETA, wait for what was taken. True if idle."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            app.control.purge()
            waiting = _scheduled(worker)
            worker_state.revoked.update(request.id for request in waiting)
            if not worker_state.reserved_requests and not worker_state.active_requests:
                app.control.purge()  # anything a last task sent before it ended
                if not worker_state.reserved_requests:
                    return True
            time.sleep(0.02)
        return False


@contextmanager
def held(worker: Any) -> Iterator[None]:
    """Inside the block ``worker`` takes nothing from the queues: what is sent there waits for it.

    For tests about messages while they are queued (dedup of two sends): without it the worker may
    take and finish the first before the second is sent, sooner or later depending on the load.
    A message a fetch already in flight brings back for a cancelled queue is put back by kombu.
    """
    _consume(worker, "cancel_consumer")
    try:
        yield
    finally:
        _consume(worker, "add_consumer")


def _consume(worker: Any, command: str) -> None:
    """Start or stop consuming the ESI queues, in the worker's own thread (a control command)."""
    for queue in QUEUES:
        replies = getattr(app.control, command)(queue, destination=[worker.hostname], reply=True, timeout=10)
        assert replies, f"the session's worker did not answer {command}({queue!r})"


def _declare_queues() -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in QUEUES:
            app.amqp.queues[name].bind(channel).declare()


def _scheduled(worker: Any) -> list[Request]:
    """The requests the worker holds until their ETA (what ``celery inspect scheduled`` lists)."""
    queue = worker.consumer.timer.schedule.queue
    return [
        waiting.entry.args[0]
        for waiting in queue
        if waiting.entry.args and isinstance(waiting.entry.args[0], Request) and not waiting.entry.canceled
    ]

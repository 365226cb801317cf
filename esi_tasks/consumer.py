"""The worker's consumer: Celery's, made to ride out a broker connection lost while Redis is down.

Celery 5.7 handles a lost broker connection by ``connection.collect()`` (close the channels, then
detach the transport from the connection) followed by ``connection.close()``. With the Redis
transport, closing a channel while Redis is still down fails part-way, each failed attempt one
step further: the task channel's first close reads its pending ``BRPOP`` reply (error), the
remote-control channel's first close deletes its auto-delete queue (error), and ``collect()``
stops at the first error. ``close()`` then closes the task channel after the transport was
detached: kombu needs the detached connection's address to put the worker's unacknowledged
messages back, and raises ``AttributeError: 'NoneType' object has no attribute 'hostname'``.
That is no connection error, so the worker's main process exits ("Unrecoverable error"). It
happens whenever Redis dies while a worker waits in ``BRPOP`` with at least one task running:
on every busy worker.

:class:`Consumer` closes every channel of the lost connection first, while the transport is
still attached, so Celery's own handling then finds nothing left to close and reconnects.
``esi_tasks`` sets it as ``worker_consumer`` (see :data:`esi_tasks.queues.RELIABILITY_SETTINGS`).
Messages the worker held stay recorded as unacknowledged in Redis: a running task's is removed
by its acknowledgement, the others come back after ``visibility_timeout``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.utils.threads import bound_open_broker_sockets
from celery.worker.consumer.consumer import COLLECT_SOCKET_TIMEOUT
from celery.worker.consumer.consumer import Consumer as CeleryConsumer

__all__ = ["CLOSE_ATTEMPTS", "Consumer", "close_channels"]

logger = logging.getLogger(__name__)

#: Attempts per channel: each failed close gets one step further (pending read, each
#: auto-delete queue, the unacknowledged messages), so a few always finish it.
CLOSE_ATTEMPTS = 8


def close_channels(connection: Any) -> int:
    """Close the channels of a lost kombu ``connection`` while its transport is attached.

    Best effort, never raises (a teardown path); returns how many channels it closed.
    """
    transport = getattr(connection, "_transport", None)
    if transport is None:
        return 0
    channels = list(getattr(transport, "channels", ()))
    default = getattr(connection, "_default_channel", None)
    if default is not None and default not in channels:
        channels.append(default)
    closed = 0
    for channel in channels:
        for _ in range(CLOSE_ATTEMPTS):
            if getattr(channel, "closed", True):
                closed += 1
                break
            try:
                channel.close()
            except Exception as exc:  # the broker is gone; the next attempt gets further
                logger.debug("closing a channel of the lost broker connection: %r", exc)
    return closed


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer; a broker connection lost while Redis is down no longer stops the worker."""

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        connection = self.connection
        if connection is not None:
            bound_open_broker_sockets(connection, COLLECT_SOCKET_TIMEOUT)  # as Celery does next
            close_channels(connection)
        super().on_connection_error_after_connected(exc)

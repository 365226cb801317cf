"""kombu's Redis transport with a ledger of published task messages: none lost between pop and unacked.

kombu takes a message off its queue with ``BRPOP`` and records it as unacknowledged (``ZADD
unacked_index`` + ``HSET unacked``) in a later, separate step. A worker main process SIGKILLed,
or Redis SIGKILLed once its AOF holds the pop, between the two loses the message: it is neither
queued nor unacknowledged, so ``visibility_timeout`` never brings it back (about one message per
three kills of a busy worker or of Redis, measured by the chaos run).

This transport keeps a **ledger**: every Celery task message (a ``task`` header) is recorded in the
same ``MULTI`` as its ``LPUSH`` (a hash ``_esi.ledger``: delivery tag -> list key and payload, and
an index ``_esi.ledger_index``: delivery tag -> when last seen), and the record goes in the same
``MULTI`` as the acknowledgement that removes it from ``unacked`` (ack, reject, purge, delete;
a ``no_ack`` consumer's delivery). A restore (``visibility_timeout``, a reject with requeue, a
worker's shutdown) rewrites the record with the payload it pushes back.

Every worker's event loop runs a **reconcile pass** every ``ledger_interval`` seconds: for the
records not seen for ``ledger_grace`` seconds, one Lua script (atomic, so passes of many workers
never race each other, and no lock is needed) looks for the message in ``unacked`` and in its list
(``LPOS`` from the tail, where old messages sit, at most ``ledger_scan_limit`` entries). Found: the
record is seen again. Missing: the record is marked suspect. Missing again at a pass at least
``ledger_grace`` seconds later: the payload is pushed back (``RPUSH``: next in line), with its task
id, so callers waiting on that id (dedup) get its result. The second look is what keeps a live
worker, between its ``BRPOP`` and its ``HSET``, from being sent a duplicate. A pass that cannot
reach Redis logs and tries again at the next one; it never stops the worker.

Costs: one more copy of each queued or unacknowledged task message in Redis (removed on ack), two
more commands in each publish's and each ack's ``MULTI``, and a pass reads at most
``ledger_batch`` x ``ledger_batches`` records. ``esi_tasks`` sets it as ``broker_transport`` for
``redis://`` brokers (:data:`esi_tasks.queues.RELIABILITY_SETTINGS`); docs/reliability.md has the
options. A message can still run twice (at-least-once), never zero times while Redis keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils import json as kombu_json

__all__ = ["Channel", "QoS", "Transport", "ledger_stats"]

logger = logging.getLogger(__name__)

# kombu's classes are typed in part only: subclassed as Any, as esi_tasks.consumer does Celery's.
_RedisQoS: Any = kombu_redis.QoS
_RedisChannel: Any = kombu_redis.Channel
_RedisTransport: Any = kombu_redis.Transport
_VirtualQoS: Any = virtual.QoS
dumps: Callable[[Any], str] = kombu_json.dumps

# KEYS: index, ledger, suspects, unacked, stats. ARGV: grace, batch, scan limit, key prefix.
# Returns {records looked at, marked suspect, pushed back}.
RECONCILE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local grace, scan = tonumber(ARGV[1]), tonumber(ARGV[3])
local due = redis.call('ZRANGE', KEYS[1], '-inf', now - grace, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local suspected, restored = 0, 0
for _, tag in ipairs(due) do
  local raw = redis.call('HGET', KEYS[2], tag)
  if not raw then
    redis.call('ZREM', KEYS[1], tag)
    redis.call('HDEL', KEYS[3], tag)
  else
    local entry = cjson.decode(raw)
    local queue, payload = ARGV[4] .. entry[1], entry[2]
    local seen = redis.call('HEXISTS', KEYS[4], tag) == 1
    if not seen then
      seen = redis.call('LPOS', queue, payload, 'RANK', -1, 'MAXLEN', scan) ~= false
        or redis.call('LLEN', queue) > scan
    end
    if seen then
      redis.call('HDEL', KEYS[3], tag)
    else
      local since = redis.call('HGET', KEYS[3], tag)
      if not since then
        redis.call('HSET', KEYS[3], tag, now)
        suspected = suspected + 1
      elseif now - tonumber(since) >= grace then
        redis.call('RPUSH', queue, payload)
        redis.call('HDEL', KEYS[3], tag)
        restored = restored + 1
      end
    end
    redis.call('ZADD', KEYS[1], now, tag)
  end
end
redis.call('HINCRBY', KEYS[5], 'passes', 1)
redis.call('HINCRBY', KEYS[5], 'checked', #due)
redis.call('HINCRBY', KEYS[5], 'suspected', suspected)
redis.call('HINCRBY', KEYS[5], 'restored', restored)
return {#due, suspected, restored}
"""

# KEYS: ledger, index, suspects, unacked, then the lists to empty. ARGV: those lists' names
# unprefixed (as the ledger records them). Empties the lists and forgets their records, except
# those of messages a worker holds (unacked); returns how many messages the lists held.
PURGE = """
local lists, size = {}, 0
for i = 5, #KEYS do
  size = size + redis.call('LLEN', KEYS[i])
  redis.call('DEL', KEYS[i])
  lists[ARGV[i - 4]] = true
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local tag = all[i]
  if lists[cjson.decode(all[i + 1])[1]] and redis.call('HEXISTS', KEYS[4], tag) == 0 then
    redis.call('HDEL', KEYS[1], tag)
    redis.call('ZREM', KEYS[2], tag)
    redis.call('HDEL', KEYS[3], tag)
  end
end
return size
"""


def _is_task(message: dict[str, Any]) -> bool:
    """A Celery task message (protocol 2 names its task in a header); control replies are not."""
    return "task" in (message.get("headers") or {})


class QoS(_RedisQoS):  # type: ignore[misc]
    """kombu's, and an ack (or a reject that drops the message) removes its ledger record too.

    A restore keeps the record: :meth:`Channel._do_restore_message` rewrites it.
    """

    def ack(self, delivery_tag: str) -> None:
        self.channel.forget(delivery_tag, self._remove_from_indices(delivery_tag)).execute()
        _VirtualQoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue:
            super().reject(delivery_tag, requeue=True)
        else:
            self.ack(delivery_tag)  # what kombu's reject does then


class Channel(_RedisChannel):  # type: ignore[misc]
    """kombu's Redis channel, keeping the ledger (see the module's docstring)."""

    QoS = QoS

    ledger_key = "_esi.ledger"
    ledger_index_key = "_esi.ledger_index"
    ledger_suspect_key = "_esi.ledger_suspect"
    ledger_stats_key = "_esi.ledger_stats"
    #: Seconds a record must go unseen before a pass looks for its message, and between the two
    #: looks that must both miss it before it is pushed back.
    ledger_grace = 15.0
    #: Seconds between a worker's reconcile passes.
    ledger_interval = 10.0
    #: Records one script run looks at, and script runs per pass at most.
    ledger_batch = 100
    ledger_batches = 10
    #: List entries ``LPOS`` compares at most (from the tail); a longer list whose tail does not
    #: hold the message counts as holding it (looked at again once it is shorter).
    ledger_scan_limit = 1000

    from_transport_options = (
        *kombu_redis.Channel.from_transport_options,
        "ledger_key",
        "ledger_index_key",
        "ledger_suspect_key",
        "ledger_stats_key",
        "ledger_grace",
        "ledger_interval",
        "ledger_batch",
        "ledger_batches",
        "ledger_scan_limit",
    )

    _scripts: dict[str, Any] | None = None

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        if not _is_task(message) or (self._expires and queue in self._expires):
            super()._put(queue, message, **kwargs)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        payload = dumps(message)
        commands: list[tuple[str, tuple[Any, ...]]] = [
            ("hset", (self.ledger_key, message["properties"]["delivery_tag"], dumps([key, payload]))),
            ("zadd", (self.ledger_index_key, {message["properties"]["delivery_tag"]: time()})),
            ("lpush", (key, payload)),  # last: a batch cut short leaves a record, never a bare message
        ]
        batch = kwargs.pop("_publish_batch", None)
        if batch is not None:
            for name, args in commands:
                batch.add(name, *args)
            return
        with self.conn_or_acquire() as client, client.pipeline() as pipe:  # MULTI: all or nothing
            for name, args in commands:
                getattr(pipe, name)(*args)
            pipe.execute()

    def _do_restore_message(
        self, payload: dict[str, Any], exchange: str, routing_key: str, pipe: Any, leftmost: bool = False
    ) -> None:
        super()._do_restore_message(payload, exchange, routing_key, pipe, leftmost)
        if not _is_task(payload):
            return
        tag = payload["properties"]["delivery_tag"]
        pri = self._get_message_priority(payload, reverse=False)
        for queue in self._lookup(exchange, routing_key):  # as kombu pushed it back, same payload
            pipe.hset(self.ledger_key, tag, dumps([self._q_for_pri(queue, pri), dumps(payload)]))
            pipe.zadd(self.ledger_index_key, {tag: time()})

    def forget(self, delivery_tag: str, pipe: Any) -> Any:
        """Queue the removal of ``delivery_tag``'s ledger record on ``pipe``; returns ``pipe``."""
        return (
            pipe.hdel(self.ledger_key, delivery_tag)
            .zrem(self.ledger_index_key, delivery_tag)
            .hdel(self.ledger_suspect_key, delivery_tag)
        )

    def _forget_now(self, delivery_tag: str) -> None:
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            self.forget(delivery_tag, pipe).execute()

    def basic_consume(
        self, queue: str, no_ack: bool = False, callback: Callable[[Any], Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        if no_ack and callback is not None:  # nothing will acknowledge them: the record goes with the delivery
            deliver = callback

            def forgetting(message: Any) -> Any:
                self._forget_now(message.delivery_tag)
                return deliver(message)

            callback = forgetting
        return super().basic_consume(queue, no_ack, callback, *args, **kwargs)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._forget_now(message.delivery_tag)
        return message

    def _purge(self, queue: str) -> int:
        lists = [self._q_for_pri(queue, pri) for pri in self.priority_steps]
        with self.conn_or_acquire() as client:
            keys = [self.ledger_key, self.ledger_index_key, self.ledger_suspect_key, self.unacked_key, *lists]
            return int(self._script("purge", PURGE)(keys=self._script_keys(client, keys), args=lists, client=client))

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._purge(queue)  # the lists and their records, at once
        super()._delete(queue, *args, **kwargs)

    def reconcile_ledger(self) -> tuple[int, int, int]:
        """One pass: push back messages missing from their list and from ``unacked`` twice.

        Returns (records looked at, marked suspect, pushed back); raises what Redis raises.
        """
        totals = [0, 0, 0]
        keys = [self.ledger_index_key, self.ledger_key, self.ledger_suspect_key, self.unacked_key]
        keys.append(self.ledger_stats_key)
        with self.conn_or_acquire() as client:
            script = self._script("reconcile", RECONCILE)
            prefix = getattr(client, "global_keyprefix", "")
            args = [self.ledger_grace, self.ledger_batch, self.ledger_scan_limit, prefix]
            for _ in range(max(1, int(self.ledger_batches))):
                done = [int(n) for n in script(keys=self._script_keys(client, keys), args=args, client=client)]
                totals = [a + b for a, b in zip(totals, done, strict=True)]
                if done[0] < int(self.ledger_batch):
                    break
        if totals[2]:
            logger.warning("pushed back %d task message(s) lost between a pop and its unacked record", totals[2])
        return totals[0], totals[1], totals[2]

    def _script(self, name: str, source: str) -> Any:
        if self._scripts is None:
            self._scripts = {}
        if name not in self._scripts:
            with self.conn_or_acquire() as client:
                self._scripts[name] = client.register_script(source)
        return self._scripts[name]

    @staticmethod
    def _script_keys(client: Any, keys: Iterable[str]) -> list[str]:
        """With ``global_keyprefix`` kombu prefixes a script's first key only: prefix the others."""
        prefix = getattr(client, "global_keyprefix", "")
        first, *rest = keys
        return [first, *(prefix + key for key in rest)]


class Transport(_RedisTransport):  # type: ignore[misc]
    """kombu's Redis transport, with :class:`Channel` and a reconcile pass in the event loop."""

    Channel = Channel

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)
        old = getattr(self.cycle, "_ledger_tref", None)
        if old is not None:  # a reconnect: one timer, not one per connection
            old.cancel()
        interval = float(connection.client.transport_options.get("ledger_interval", Channel.ledger_interval))
        self.cycle._ledger_tref = loop.call_repeatedly(interval, self.reconcile)

    def reconcile(self) -> None:
        """The event loop's pass: never raises (Redis down: the next pass tries again)."""
        for channel in list(self.cycle._channels):
            if channel.active_queues:  # one consuming channel does it for the whole Redis
                try:
                    channel.reconcile_ledger()
                except Exception as exc:
                    logger.info("ledger reconcile pass skipped: %r", exc)
                return


def ledger_stats(client: Any, key: str = Channel.ledger_stats_key) -> dict[str, int]:
    """The reconcile passes' counters (passes, checked, suspected, restored) on ``client``'s Redis."""
    return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in client.hgetall(key).items()}

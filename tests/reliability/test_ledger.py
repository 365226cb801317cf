"""esi_tasks.transport's ledger on a Redis of its own: what a reconcile pass pushes back, and what never.

The messages are real Celery task messages (``send_task``) through the transport esi_tasks sets;
"a killed worker" is a raw ``RPOP`` of the queue's list, which is what kombu's ``BRPOP`` does
before its unacked record. ``ledger_grace = 0`` makes every record due at every pass, so two passes
in a row are the two looks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from esi_tasks import transport
from esi_tasks.queues import TRANSPORT, apply_reliability_defaults
from tests.chaos.redis_server import PrivateRedis

LEDGER, INDEX, SUSPECT, STATS = "_esi.ledger", "_esi.ledger_index", "_esi.ledger_suspect", "_esi.ledger_stats"


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    private = PrivateRedis().start()
    yield private
    private.stop()


@pytest.fixture
def raw(server: PrivateRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url())
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def app(server: PrivateRedis, raw: redis.Redis) -> Iterator[Celery]:
    celery = Celery("ledger", broker=server.url(), backend=server.url(), set_as_current=False)
    apply_reliability_defaults(celery)
    celery.conf.broker_transport_options = {**celery.conf.broker_transport_options, "ledger_grace": 0}
    yield celery
    celery.close()


@pytest.fixture
def channel(app: Celery) -> Iterator[Any]:
    with app.connection_for_read() as connection:
        yield connection.default_channel


def _send(app: Celery, count: int) -> list[str]:
    return [app.send_task("ledger.noop", args=(n,), queue="celery").id for n in range(count)]


def _task_ids(raw: redis.Redis, key: str = "celery") -> list[str]:
    return [json.loads(item)["headers"]["id"] for item in raw.lrange(key, 0, -1)]


def test_redis_brokers_get_the_transport_and_a_projects_own_choice_wins() -> None:
    ours = Celery("a", broker="redis://127.0.0.1:1/0", set_as_current=False)
    apply_reliability_defaults(ours)
    assert ours.conf.broker_transport == TRANSPORT
    assert type(ours.connection_for_read().transport) is transport.Transport
    amqp = Celery("b", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    apply_reliability_defaults(amqp)
    assert amqp.conf.broker_transport is None
    own = Celery("c", broker="redis://127.0.0.1:1/0", set_as_current=False)
    own.conf.broker_transport = "redis"
    apply_reliability_defaults(own)
    assert own.conf.broker_transport == "redis"


def test_each_published_task_has_a_record_and_its_ack_removes_it(app: Celery, channel: Any, raw: redis.Redis) -> None:
    _send(app, 20)
    assert (raw.hlen(LEDGER), raw.zcard(INDEX), raw.llen("celery")) == (20, 20, 20)
    for _ in range(20):
        message = channel.basic_get("celery")
        message.ack()
    assert [raw.exists(key) for key in (LEDGER, INDEX, SUSPECT, "unacked", "unacked_index", "celery")] == [0] * 6


def test_messages_queued_or_unacked_are_never_sent_again(app: Celery, channel: Any, raw: redis.Redis) -> None:
    sent = _send(app, 10)
    held = [channel.basic_get("celery") for _ in range(4)]  # taken, not acknowledged: in unacked
    for _ in range(5):
        assert channel.reconcile_ledger() == (10, 0, 0)
    assert sorted(_task_ids(raw)) == sorted(sent[4:]) and raw.hlen("unacked") == 4
    assert transport.ledger_stats(raw) == {"passes": 5, "checked": 50, "suspected": 0, "restored": 0}
    for message in held:
        message.ack()
    assert raw.hlen(LEDGER) == 6


def test_a_message_popped_and_never_recorded_comes_back_once_after_two_looks(
    app: Celery, channel: Any, raw: redis.Redis
) -> None:
    sent = _send(app, 3)
    popped = json.loads(raw.rpop("celery"))  # what a worker killed between BRPOP and HSET leaves
    assert popped["headers"]["id"] == sent[0]
    assert channel.reconcile_ledger() == (3, 1, 0)  # first look: suspect, nothing sent
    assert sorted(_task_ids(raw)) == sorted(sent[1:])
    assert channel.reconcile_ledger() == (3, 0, 1)  # second look: pushed back, next in line
    assert channel.reconcile_ledger() == (3, 0, 0)
    assert sorted(_task_ids(raw)) == sorted(sent) and _task_ids(raw)[-1] == sent[0]
    assert channel.basic_get("celery").headers["id"] == sent[0]


def test_a_suspect_that_turns_up_in_unacked_is_not_sent(app: Celery, channel: Any, raw: redis.Redis) -> None:
    """A live worker between its BRPOP and its HSET: the first look misses it, the second finds it."""
    _send(app, 1)
    item = raw.rpop("celery")
    assert channel.reconcile_ledger() == (1, 1, 0)
    raw.lpush("celery", item)
    message = channel.basic_get("celery")  # the worker records it now
    assert channel.reconcile_ledger() == (1, 0, 0) and raw.hlen(SUSPECT) == 0
    message.ack()
    assert raw.hlen(LEDGER) == 0


def test_a_requeued_message_is_found_with_its_new_payload(app: Celery, channel: Any, raw: redis.Redis) -> None:
    """kombu marks a restored message redelivered: the record follows, so it is found, not doubled."""
    sent = _send(app, 2)
    channel.basic_get("celery").reject(requeue=True)
    assert json.loads(raw.lindex("celery", 0))["headers"]["redelivered"] is True
    for _ in range(3):
        assert channel.reconcile_ledger() == (2, 0, 0)
    assert sorted(_task_ids(raw)) == sorted(sent)


def test_purge_forgets_the_purged_messages_but_not_those_taken(app: Celery, channel: Any, raw: redis.Redis) -> None:
    _send(app, 5)
    taken = channel.basic_get("celery")
    assert channel._purge("celery") == 4
    assert raw.hlen(LEDGER) == 1 and raw.hexists(LEDGER, taken.delivery_tag)
    for _ in range(2):
        assert channel.reconcile_ledger() == (1, 0, 0)
    assert raw.llen("celery") == 0


def test_a_delivery_without_ack_forgets_its_record(app: Celery, channel: Any, raw: redis.Redis) -> None:
    _send(app, 2)
    channel.basic_get("celery", no_ack=True)
    assert raw.hlen(LEDGER) == 1


def test_a_pass_while_redis_is_down_is_not_fatal(app: Celery, server: PrivateRedis, raw: redis.Redis) -> None:
    _send(app, 2)
    raw.rpop("celery")
    with app.connection_for_read() as connection:
        connection.default_channel.basic_consume("celery", callback=lambda message: None, consumer_tag="t")
        cycle_transport = connection.transport
        cycle_transport.reconcile()  # first look
        server.kill()
        try:
            cycle_transport.reconcile()  # logs, does not raise
            with pytest.raises(redis.ConnectionError):
                connection.default_channel.reconcile_ledger()
        finally:
            server.start()  # AOF: the ledger is still there
        cycle_transport.reconcile()
    assert raw.llen("celery") == 2 and transport.ledger_stats(raw)["restored"] == 1


def test_a_publish_batch_records_each_message(app: Celery, channel: Any, raw: redis.Redis) -> None:
    with app.producer_or_acquire() as producer, producer.batch():
        sent = [app.send_task("ledger.noop", args=(n,), queue="celery", producer=producer).id for n in range(5)]
    assert sorted(_task_ids(raw)) == sorted(sent) and raw.hlen(LEDGER) == 5
    assert channel.reconcile_ledger() == (5, 0, 0)

"""What the ledger (esi_tasks.transport) costs: publish and consume+ack rates, kombu's Redis
transport and esi_tasks' side by side, rounds interleaved, on a Redis of its own.

    python -m bench.bench_ledger [--messages 3000] [--rounds 3]

Prints messages per second for each and the ratio (ours / kombu's), with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import redis
from celery import Celery

from esi_tasks.queues import apply_reliability_defaults
from tests.chaos.redis_server import PrivateRedis

TRANSPORTS = {"kombu": "redis", "ledger": "esi_tasks.transport:Transport"}


def _app(url: str, transport: str) -> Celery:
    app = Celery("bench", broker=url, set_as_current=False)
    app.conf.broker_transport = transport
    apply_reliability_defaults(app)
    return app


def _round(app: Celery, raw: redis.Redis, messages: int) -> tuple[float, float]:
    raw.flushdb()
    with app.producer_or_acquire() as producer:
        start = time.perf_counter()
        for n in range(messages):
            app.send_task("bench.noop", args=(n,), queue="celery", producer=producer)
        publish = messages / (time.perf_counter() - start)
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        start = time.perf_counter()
        for _ in range(messages):
            channel.basic_get("celery").ack()
        consume = messages / (time.perf_counter() - start)
    return publish, consume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = PrivateRedis().start()
    try:
        raw = redis.Redis.from_url(server.url())
        apps = {name: _app(server.url(), transport) for name, transport in TRANSPORTS.items()}
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        for _ in range(args.rounds):
            for name, app in apps.items():
                rates[name].append(_round(app, raw, args.messages))
        print(f"load average {os.getloadavg()[0]:.1f}; {args.messages} messages x {args.rounds} rounds (median)")
        medians = {name: [statistics.median(r[i] for r in rows) for i in (0, 1)] for name, rows in rates.items()}
        for name, (publish, consume) in medians.items():
            print(f"{name:7} publish {publish:8.0f}/s   get+ack {consume:8.0f}/s")
        ours, theirs = medians["ledger"], medians["kombu"]
        print(f"ratio ledger/kombu: publish {ours[0] / theirs[0]:.2f}, get+ack {ours[1] / theirs[1]:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

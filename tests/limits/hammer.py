"""One hammering process of the multi-process limiter tests (run as ``python -m tests.limits.hammer``).

It uses the real client and the process-wide limiter against the simulator. It says it is ready
(``RPUSH --ready``), waits for the start signal (``BLPOP --go``: every process starts at once, by
an event rather than a clock), calls one operation until its stop rule holds, and prints one JSON
line of what ESI answered (statuses and limit headers) and what the limiter refused:

- ``--stop rate``: stop at the first ``EsiRateLimited`` (the bucket is full);
- ``--stop resume``: honour ``retry_after`` of ``EsiErrorLimited`` by sleeping (a test harness,
  not a worker) and stop after the first request sent once a pause has ended.

``--first-call`` makes one call right after the start signal and then waits at a second barrier
(``--ready``/``--go`` suffixed ``:2``): every process holds its share before the race, whatever
the scheduler does on a busy machine.

``--deadline`` (epoch seconds) only bounds a broken run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--op", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--stop", choices=["rate", "resume"], required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--threshold", type=int, default=None)
    parser.add_argument("--first-call", action="store_true")
    args = parser.parse_args()
    redis_url = os.environ.get("ESI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

    import django
    import redis
    from django.conf import settings

    settings.configure(  # only what the client needs: the test Redis db, the simulator, no retries
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
        ESI_REDIS_URL=redis_url,
        ESI_API_URL=args.url + "/",
        ESI_SSO_BASE_URL=args.url,
        ESI_DOWNTIME_START="",
        ESI_CACHE_RESPONSE=False,
        ESI_SERVER_ERROR_MAX_RETRIES=0,
        ESI_USER_CONTACT_EMAIL="tests@example.com",
        ESI_APP_NAME="django-esi-tests",
        **({"ESI_ERROR_LIMIT_THRESHOLD": args.threshold} if args.threshold is not None else {}),
    )
    django.setup()

    from esi.client import get_client
    from esi.exceptions import EsiErrorLimited, EsiRateLimited, EsiResponseError

    client = get_client()
    client.spec.get(args.op)  # load the spec before the start signal
    signals = redis.Redis.from_url(redis_url, socket_timeout=None)  # BLPOP waits for the others

    def barrier(suffix: str = "") -> None:
        signals.rpush(args.ready + suffix, os.getpid())
        signals.blpop([args.go + suffix], timeout=max(1, int(args.deadline - time.time())))

    barrier()

    ok_remaining: list[int | None] = []  # X-Ratelimit-Remaining of every 2xx
    error_remain: list[int | None] = []  # X-ESI-Error-Limit-Remain of every error answer
    refused: Counter[str] = Counter()
    paused = resumed = timed_out = False
    while True:
        if time.time() > args.deadline:
            timed_out = True
            break
        try:
            r = client.call(args.op)
            remaining = r.headers.get("x-ratelimit-remaining")
            ok_remaining.append(int(remaining) if remaining is not None else None)
            resumed = resumed or paused
        except EsiRateLimited:
            refused["rate"] += 1
            if args.stop == "rate":
                break
        except EsiErrorLimited as exc:
            refused["error"] += 1
            if "in flight" not in str(exc):
                paused = True
            time.sleep(max(0.0, min(exc.retry_after, args.deadline - time.time())))
        except EsiResponseError as exc:
            remain = (exc.headers or {}).get("x-esi-error-limit-remain")
            error_remain.append(int(remain) if remain is not None else None)
            resumed = resumed or paused
        if args.stop == "resume" and resumed:
            break
        if args.first_call:
            args.first_call = False
            barrier(":2")
    print(
        json.dumps(
            {
                "ok_remaining": ok_remaining,
                "error_remain": error_remain,
                "refused": refused,
                "paused": paused,
                "resumed": resumed,
                "timed_out": timed_out,
            }
        )
    )


if __name__ == "__main__":
    main()

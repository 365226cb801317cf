"""django-esi 10.0.0 side of the client benchmark; runs INSIDE bench/.venv-django-esi10.

    bench/.venv-django-esi10/bin/python bench/_django_esi10_worker.py SCENARIO --url URL --redis URL --spec FILE

Prints one JSON object. ``--spec`` is the bundled document with ``servers`` pointed at the
simulator (django-esi 10 sends requests to the spec's server, not to ESI_API_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def setup(url: str, redis_url: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=True,  # django-esi 10 refuses a full-spec client otherwise
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}},
        USE_TZ=True,
        ESI_API_URL=url.rstrip("/") + "/",
        ESI_SSO_CLIENT_ID="bench",
        ESI_SSO_CLIENT_SECRET="bench",
        ESI_SSO_CALLBACK_URL="http://localhost/callback",
        ESI_USER_CONTACT_EMAIL="bench@example.com",
        LOGGING_CONFIG=None,
    )
    django.setup()


def provider(spec: str) -> Any:
    from esi.openapi_clients import ESIClientProvider

    return ESIClientProvider(
        compatibility_date="2026-08-04", ua_appname="DjangoEsiBench", ua_version="1.0.0", spec_file=spec
    ).client


def per_call(fn: Any, calls: int, rounds: int, pick: Any = min) -> float:
    """Per-call seconds: the fastest round (as for our client) or, for crawls, the median."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return float(pick(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["coldstart", "hit", "uncached", "pages"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--region", type=int, default=20000000)
    args = parser.parse_args()
    setup(args.url, args.redis)
    out: dict[str, Any] = {"scenario": args.scenario}
    if args.scenario == "coldstart":
        rss0, t0 = rss_bytes(), time.perf_counter()
        client = provider(args.spec)
        client.Status.GetStatus  # noqa: B018 - resolve one operation, as a first call would
        out["seconds"] = time.perf_counter() - t0
        out["rss_mb"] = (rss_bytes() - rss0) / 2**20
    elif args.scenario == "hit":
        client = provider(args.spec)
        client.Status.GetStatus().result(use_etag=False)
        out["per_call"] = per_call(lambda: client.Status.GetStatus().result(use_etag=False), args.calls, args.rounds)
        try:  # the default (use_etag=True): what does the second call do?
            client.Status.GetStatus().result()
            out["default_second_call"] = "returned data"
        except Exception as exc:
            out["default_second_call"] = f"raised {type(exc).__name__}"
    elif args.scenario == "uncached":
        client = provider(args.spec)
        op = client.Alliance.GetAlliances

        def call() -> None:
            op().result(use_etag=False, use_cache=False, store_cache=False)

        call()
        out["per_call"] = per_call(call, args.calls, args.rounds)
    elif args.scenario == "pages":
        client = provider(args.spec)
        region = [args.region]
        rows = []

        def crawl() -> None:
            region[0] += 1
            rows.append(
                len(
                    client.Market.GetMarketsRegionIdOrders(region_id=region[0], order_type="all").results(
                        use_etag=False
                    )
                )
            )

        out["per_call"] = per_call(crawl, 1, args.rounds, statistics.median)
        out["rows"] = rows[-1]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

"""The token sweep at scale: N tokens refreshed in lanes against the simulator's SSO.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/esi_bench_sweep \\
        .venv/bin/python bench/bench_sweep.py --tokens 10000 --lanes 20

Prints one JSON document: wall seconds, tokens/s, SQL statements per token (counted on every
lane's connection with ``execute_wrapper``), SSO refresh POSTs (each token exactly once), the
sweep's progress record when this version has one, and the machine's load average. The lanes
run as the ``esi_refresh_tokens`` command runs them (threads, one lane each), so the figures are
those of the refresh path, not of Celery. It runs against older checkouts too (it uses only
``esi_tasks.token_refresh.refresh_lane`` and ``split_lanes``), which is how the before/after
figures in docs/tokens.md were taken: the same file, run from each checkout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))


def _configure(database_url: str, redis_url: str, sim_url: str, lanes: int) -> None:
    import dj_database_url
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
        DATABASES={"default": dj_database_url.parse(database_url, conn_max_age=600)},
        USE_TZ=True,
        SECRET_KEY="bench-only",
        ESI_REDIS_URL=redis_url,
        ESI_API_URL=sim_url + "/",
        ESI_SSO_BASE_URL=sim_url,
        ESI_SSO_CLIENT_ID="test-client-id",
        ESI_SSO_CLIENT_SECRET="test-client-secret",
        ESI_SSO_CALLBACK_URL="http://testserver/sso/callback",
        ESI_DOWNTIME_START="",
        ESI_USER_CONTACT_EMAIL="bench@example.com",
        ESI_APP_NAME="django-esi-bench",
        ESI_REFRESH_SWEEP_CONCURRENCY=lanes,
        LOGGING_CONFIG=None,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def _tokens(n: int, sim: Any) -> list[int]:
    """N refreshable tokens of one character, lapsing within a minute; SSO accepts each one."""
    from django.utils import timezone

    from esi.models import Token

    Token.objects.all().delete()
    soon = timezone.now() + dt.timedelta(seconds=60)
    rows = [
        Token(
            character_id=90000001,
            character_name="Harness Pilot One",
            character_owner_hash="owner-hash-one",
            access_token="expired",
            refresh_token=f"bench-refresh-{i}",
            access_token_expires=soon,
        )
        for i in range(n)
    ]
    Token.objects.bulk_create(rows, batch_size=1000)
    ids = list(Token.objects.order_by("pk").values_list("pk", flat=True))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda i: sim.accept_refresh_token(f"bench-refresh-{i}", 90000001, ["esi-assets.read_assets.v1"]),
                range(n),
            )
        )
    return ids


def measure(n: int, lanes: int, sim_url: str) -> dict[str, Any]:
    from django.db import connection, connections

    from esi.testing import SimulatorControl
    from esi_tasks import token_refresh

    sim = SimulatorControl(sim_url)
    sim.reset()
    sim.set_client("test-client-id", "test-client-secret")
    ids = _tokens(n, sim)
    # SSO's keys into Redis once, as any login does before a sweep.
    from esi.sso import verify_access_token

    verify_access_token(sim.issue_tokens(90000001, ["esi-assets.read_assets.v1"])["access_token"])
    before = sim.stats()["sso"].get("token_refresh_token", 0)
    split = token_refresh.split_lanes(ids, lanes)
    sweep = token_refresh.begin_sweep(ids, split, source="bench") if hasattr(token_refresh, "begin_sweep") else None
    statements = [0]
    lock = threading.Lock()
    counts: dict[str, int] = {}

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        with lock:
            statements[0] += 1
        return execute(sql, params, many, context)

    def lane(token_ids: list[int]) -> None:
        try:
            with connection.execute_wrapper(count):
                kwargs = {"sweep": sweep} if sweep is not None else {}
                result = token_refresh.refresh_lane(token_ids, **kwargs)
            with lock:
                for k, v in result.items():
                    counts[k] = counts.get(k, 0) + v
        finally:
            connections.close_all()

    load_before = os.getloadavg()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(split)) as pool:
        list(pool.map(lane, split))
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    posts = sim.stats()["sso"].get("token_refresh_token", 0) - before
    result: dict[str, Any] = {
        "tokens": n,
        "lanes": len(split),
        "wall_s": round(wall, 2),
        "tokens_per_s": round(n / wall, 1),
        "sql_statements": statements[0],
        "sql_per_token": round(statements[0] / n, 3),
        "sso_refresh_posts": posts,
        "outcomes": counts,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
    }
    if sweep is not None:
        progress = token_refresh.sweep_progress(sweep["id"])
        result["progress"] = progress.as_dict() if progress is not None else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--lanes", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis", default=os.environ.get("ESI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        print(json.dumps({"skipped": "needs DATABASE_URL=postgres://... (SQLite serialises the lanes' writes)"}))
        return
    from esi.testing import start_simulator

    with start_simulator() as handle:
        _configure(args.database_url, args.redis, handle.url.rstrip("/"), args.lanes)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(json.dumps(measure(args.tokens, args.lanes, handle.url.rstrip("/")), indent=2))


if __name__ == "__main__":
    main()

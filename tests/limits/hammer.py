"""One hammering process of the multi-process limiter tests (run as ``python -m tests.limits.hammer``).

It uses the real client and the process-wide limiter against the simulator, calls one operation
until ``--until`` (epoch seconds), honours ``retry_after`` of EsiLimited by sleeping (a test
harness, not a worker), and prints one JSON line: successes (with times), limit refusals,
error statuses.
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
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--until", type=float, required=True)
    parser.add_argument("--threshold", type=int, default=None)
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.configure(  # only what the client needs: the test Redis db, the simulator, no retries
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
        ESI_REDIS_URL=os.environ.get("ESI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
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
    from esi.exceptions import EsiErrorLimited, EsiLimited, EsiRateLimited, EsiResponseError

    client = get_client()
    client.spec.get(args.op)  # load the spec before the start line
    ok: list[float] = []
    errors: list[tuple[float, int]] = []
    refused: Counter[str] = Counter()
    time.sleep(max(0.0, args.start - time.time()))
    while time.time() < args.until:
        try:
            client.call(args.op)
            ok.append(time.time())
        except EsiLimited as exc:
            kind = "rate" if isinstance(exc, EsiRateLimited) else "error" if isinstance(exc, EsiErrorLimited) else "?"
            refused[kind] += 1
            time.sleep(max(0.0, min(exc.retry_after, args.until - time.time())))
        except EsiResponseError as exc:
            errors.append((time.time(), exc.status))
    client.limits.close()
    print(json.dumps({"ok": ok, "errors": errors, "refused": refused, "until": args.until}))


if __name__ == "__main__":
    main()

"""The example project, run the way a newcomer runs it: ``manage.py`` and ``scripts/demo`` in subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as test_settings

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "example_project" / "manage.py"
SSO_SETTINGS = ("ESI_SSO_CLIENT_ID", "ESI_SSO_CLIENT_SECRET", "ESI_SSO_CALLBACK_URL")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ESI_", "DJANGO_", "DATABASE_URL", "REDIS_URL", "DEMO_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'example.sqlite3'}",
        REDIS_URL=test_settings.ESI_TEST_REDIS_URL,
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_check_passes_with_the_sso_settings_set(tmp_path):
    result = _manage(tmp_path, "check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_fails_with_the_documented_errors_without_sso_settings(tmp_path):
    empty = dict.fromkeys(SSO_SETTINGS, "")
    result = _manage(tmp_path, "check", DJANGO_DEBUG="0", **empty)

    assert result.returncode == 1
    for number, name in enumerate(("ESI_SSO_CLIENT_ID", "ESI_SSO_CLIENT_SECRET", "ESI_SSO_CALLBACK_URL"), 1):
        assert f"(esi.E00{number}) {name} is not set" in result.stderr
    assert "https://developers.eveonline.com" in result.stderr  # the hint says what to do


def test_check_only_warns_without_sso_settings_while_debug(tmp_path):
    empty = dict.fromkeys(SSO_SETTINGS, "")
    result = _manage(tmp_path, "check", DJANGO_DEBUG="1", ESI_USER_CONTACT_EMAIL="", **empty)

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert all(f"(esi.W00{n})" in output for n in (1, 2, 3))
    assert "(esi.W010) ESI_USER_CONTACT_EMAIL is not set" in output
    assert "(esi.E00" not in output


def _settings_of(tmp_path: Path, *names: str, **env: str) -> list[str]:
    code = f"from esi.app_settings import esi_settings as s; print('|'.join(str(getattr(s, n)) for n in {names!r}))"
    result = _manage(tmp_path, "shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split("|")


def test_defaults_point_at_the_local_simulator_and_sqlite(tmp_path):
    env = _env(tmp_path)
    del env["DATABASE_URL"]
    code = (
        "from django.conf import settings as s; from django.db import connection; "
        "from example_project.celery import app; "
        "print('|'.join(map(str, [s.ESI_API_URL, s.ESI_SSO_BASE_URL, s.ESI_REDIS_URL, connection.vendor, "
        "app.conf.broker_url, app.conf.result_backend, app.conf.beat_scheduler])))"
    )
    result = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    values = result.stdout.strip().splitlines()[-1].split("|")
    redis = test_settings.ESI_TEST_REDIS_URL
    assert values == [
        "http://127.0.0.1:8089/",
        "http://127.0.0.1:8089",
        redis,
        "sqlite",
        redis,
        redis,
        "django_celery_beat.schedulers:DatabaseScheduler",
    ]


def test_environment_selects_real_esi_and_postgresql(tmp_path):
    values = _settings_of(
        tmp_path,
        "ESI_API_URL",
        "ESI_SSO_BASE_URL",
        "ESI_DOWNTIME_START",
        **{
            "ESI_API_URL": "https://esi.evetech.net/",
            "ESI_SSO_BASE_URL": "https://login.eveonline.com",
        },
    )
    assert values == ["https://esi.evetech.net/", "https://login.eveonline.com", "11:00"]
    code = "from django.db import connection; print(connection.vendor, connection.settings_dict['NAME'])"
    result = _manage(tmp_path, "shell", "-c", code, DATABASE_URL="postgres://postgres@127.0.0.1:5432/esi_example")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["postgresql", "esi_example"]


DASHBOARD_SCRIPT = """
import httpx
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

anonymous = Client().get("/").content.decode()
assert "Sign in" in anonymous and "Error limit" not in anonymous and "token(s) stored" not in anonymous, anonymous
assert Client().post("/fetch/").status_code == 302   # to the admin login: nothing queued
user = get_user_model().objects.create_user("pilot", password="pw", is_staff=True)
client = Client()
client.force_login(user)
page = client.get("/").content.decode()
assert "Log in with EVE SSO" in page, page
assert "No tokens of yours yet" in page, page
assert "players" in page, page   # ESI status read through the client from the simulator
assert 'href="/sso/dashboard/"' in page, page   # the walkthrough leads to the product's dashboard
assert client.get("/sso/dashboard/").status_code == 403   # staff, but without esi.view_dashboard
user.user_permissions.add(Permission.objects.get(content_type__app_label="esi", codename="view_dashboard"))
client.force_login(user)
feed = {p["name"]: p for p in client.get("/sso/dashboard/data/").json()["panels"]}
assert feed["error_limit"]["ok"] and feed["error_limit"]["data"]["threshold"] is not None, feed
groups = [row["label"] for row in feed["rate_limits"]["data"]["rows"]]
assert "status / app" in groups, feed   # the shared limiter counted the status call

login = client.get("/sso/login/?scopes=esi-assets.read_assets.v1&next=/")
assert login.status_code == 302, login
back = httpx.get(login["Location"])          # the simulator approves the login at once
assert back.status_code == 302, back
callback = back.headers["location"].replace("http://testserver", "")
done = client.get(callback)
assert done.status_code == 302 and done["Location"] == "/", (done.status_code, done.content[:500])
page = client.get("/").content.decode()
assert "Harness Pilot One (90000001)" in page, page
assert "esi-assets.read_assets.v1" in page, page
player = Client()
player.force_login(get_user_model().objects.create_user("player", password="pw"))
page = player.get("/").content.decode()
assert "Log in with EVE SSO" in page and "Harness Pilot One" not in page and "Error limit" not in page, page
print("DASHBOARD-OK")
"""


def test_dashboard_shows_status_and_the_token_of_an_sso_login(tmp_path, esi_simulator, esi_sim, redis_client):
    esi_sim.set_login(90000001, ["esi-assets.read_assets.v1"])
    env = {
        "ESI_API_URL": esi_simulator.url + "/",
        "ESI_SSO_BASE_URL": esi_simulator.url,
        "ESI_SSO_CALLBACK_URL": "http://testserver/sso/callback",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "ESI_DOWNTIME_START": "",  # this test must pass at 11:00 UTC too
    }
    migrate = _manage(tmp_path, "migrate", "--noinput", "-v", "0", **env)
    assert migrate.returncode == 0, migrate.stderr

    result = _manage(tmp_path, "shell", "-c", DASHBOARD_SCRIPT, **env)

    assert "DASHBOARD-OK" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert "eyJ" not in result.stdout + result.stderr  # no JWT (access token) on the page or in logs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_check(env: dict[str, str]) -> str:
    try:
        result = subprocess.run(
            [str(ROOT / "scripts" / "demo"), "--check"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
        )
    finally:
        # The demo's beat sends the token sweep at start-up; leave no message in the shared broker
        # for the workers of later tests.
        celery = [sys.executable, "-m", "celery", "--workdir", str(ROOT / "example_project"), "-A", "example_project"]
        purge = [*celery, "purge", "-f", "-Q", "esi_tokens,esi,celery"]
        subprocess.run(purge, env=env, capture_output=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Nothing it started is left running.
    survivors = subprocess.run(["pgrep", "-f", env["DEMO_LOG_DIR"]], capture_output=True, text=True)
    assert survivors.stdout == ""
    ports = [int(env["DEMO_PORT"]), int(env["DEMO_SIM_PORT"])]
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    return output


@pytest.mark.demo
def test_demo_check_starts_everything_and_stops_it(tmp_path):
    env = _env(
        tmp_path,
        DEMO_SKIP_INSTALL="1",
        DEMO_VENV=sys.prefix,
        DEMO_PORT=str(_free_port()),
        DEMO_SIM_PORT=str(_free_port()),
        DEMO_LOG_DIR=str(tmp_path / "logs"),
    )
    output = _demo_check(env)

    assert "dashboard: 200" in output
    assert "/sso/login: redirects to" in output and "/v2/oauth/authorize" in output
    assert "celery worker: answers ping" in output
    assert "fetch_endpoint('GetStatus'): run by the worker, shown on the dashboard" in output
    assert "admin user: admin / admin" in output
    # the README's tour: SSO login, a schedule added in the admin, Run now, its last run shown
    assert "SSO login: the token of Harness Pilot One (90000001) is kept under admin" in output
    assert "admin schedule GetCharactersCharacterIdAssets: Run now -> last status ok" in output

    # The check deletes the token its SSO login added, and its log lines carry no terminal codes.
    assert "1 token(s) of the check deleted again" in output
    assert "\033[" not in output
    count = _manage(tmp_path, "shell", "-c", "from esi.models import Token; print(Token.objects.count())", **env)
    assert count.stdout.split()[-1] == "0"
    seed = _manage(tmp_path, "shell", "-c", SEED_TOKEN, **env)
    assert seed.returncode == 0, seed.stderr

    # Started again on the same database, Redis and ports: a new simulator with a new signing key
    # (under the same key id) must not make SSO logins fail, and the stored token is carried over.
    output = _demo_check(env)

    assert "1 stored token(s) carried over to the new simulator" in output
    assert "SSO login: the token of Harness Pilot One (90000001) is kept under admin" in output
    assert "admin schedule GetCharactersCharacterIdAssets: Run now -> last status ok" in output
    count = _manage(tmp_path, "shell", "-c", "from esi.models import Token; print(Token.objects.count())", **env)
    assert count.stdout.split()[-1] == "1"  # the token of an earlier demo session stays


# A token an earlier demo session kept: refreshable only by a simulator told to accept it.
SEED_TOKEN = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from esi.models import Scope, Token

token = Token.objects.create(
    character_id=90000001, character_name="Harness Pilot One", character_owner_hash="owner-hash-one",
    access_token="expired", access_token_expires=timezone.now(), refresh_token="kept-refresh-token",
    user=get_user_model().objects.get(username="admin"),
)
token.scopes.add(Scope.objects.get_or_create(name="esi-assets.read_assets.v1", defaults={"help_text": ""})[0])
"""


DEGRADED_SCRIPT = """
from django.test import override_settings
override_settings(ESI_REDIS_RETRIES=0).enable()  # a refused connection fails at once, not after 3.5 s of backoff
from django.contrib.auth import get_user_model
from django.test import Client

client = Client()
client.force_login(get_user_model().objects.create_user("staff", password="pw", is_staff=True))
page = client.get("/")
assert page.status_code == 200, page.status_code
text = page.content.decode()
assert 'class="note">ESI status: ' in text, text  # an esi.exceptions error, as a note
assert 'class="note">Recent fetches: RedisUnavailable: Redis at ESI_REDIS_URL did not answer' in text, text
assert 'class="note">Limits' not in text, text  # the budgets moved to the product dashboard:
superuser = Client()
superuser.force_login(get_user_model().objects.create_superuser("root", password="pw"))
feed = {p["name"]: p for p in superuser.get("/sso/dashboard/data/").json()["panels"]}
assert feed["error_limit"]["error"].startswith("Redis unavailable: Redis at ESI_REDIS_URL"), feed  # one clear error
assert "Log in with EVE SSO" in text, text
print("DEGRADED-OK")
"""


def test_dashboard_degrades_gracefully_without_esi_and_redis(tmp_path):
    env = {
        "ESI_API_URL": "http://127.0.0.1:9/",  # nothing listens on the discard port
        "ESI_SSO_BASE_URL": "http://127.0.0.1:9",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "ESI_DOWNTIME_START": "",  # the same page at 11:00 UTC as at any other time
    }
    assert _manage(tmp_path, "migrate", "--noinput", "-v", "0", **env).returncode == 0

    result = _manage(tmp_path, "shell", "-c", DEGRADED_SCRIPT, **env)

    assert "DEGRADED-OK" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


def test_debug_is_off_unless_asked_for(tmp_path):
    """Issue 13 finding 14: a deployed copy of the example project shows no DEBUG error pages."""
    code = "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    assert _manage(tmp_path, "shell", "-c", code).stdout.split()[-1] == "False"
    assert _manage(tmp_path, "shell", "-c", code, DJANGO_DEBUG="1").stdout.split()[-1] == "True"

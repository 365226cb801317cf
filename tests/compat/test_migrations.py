"""Upgrade in place from django-esi 10: ``migrate`` on their database keeps every token.

``django-esi-10.sqlite3`` is a real django-esi 10.0.0 database (see ``/work/shared/compat``).
Migrations run in a subprocess with ``python -m django migrate``, exactly the operator's
upgrade step; the migrated database is then used by another process, like the upgraded site.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("django-esi-10.sqlite3")
THEIR_MIGRATIONS = [
    "0001_initial",
    "0002_scopes_20161208",
    "0003_hide_tokens_from_admin_site",
    "0004_remove_unique_access_token",
    "0005_remove_token_length_limit",
    "0006_remove_url_length_limit",
    "0007_fix_mysql_8_migration",
    "0008_nullable_refresh_token",
    "0009_set_old_tokens_to_sso_v1",
    "0010_set_new_tokens_to_sso_v2",
    "0011_add_token_indices",
    "0012_fix_token_type_choices",
    "0013_squashed_0012_fix_token_type_choices",
]
ASSETS = "esi-assets.read_assets.v1"
WALLET = "esi-wallet.read_character_wallet.v1"


def django(db: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run ``python -m django ...`` (or ``-c`` code) against the SQLite file ``db``."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    command = [sys.executable, *args] if args[0] == "-c" else [sys.executable, "-m", "django", *args]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


ESI_TABLES = "('esi_scope', 'esi_token', 'esi_token_scopes', 'esi_callbackredirect')"


def esi_schema(db: Path) -> list[tuple]:
    return sorted(rows(db, f"select type, name, sql from sqlite_master where tbl_name in {ESI_TABLES}"))


def esi_columns(db: Path) -> dict[str, object]:
    """Columns, foreign keys and indexes of the esi tables, whatever their order in the DDL."""
    shape: dict[str, object] = {}
    with sqlite3.connect(db) as conn:
        for (table,) in conn.execute(f"select name from sqlite_master where type = 'table' and name in {ESI_TABLES}"):
            columns = sorted(tuple(c[1:]) for c in conn.execute(f"pragma table_info({table})"))
            fks = sorted(tuple(f[2:5]) for f in conn.execute(f"pragma foreign_key_list({table})"))
            indexes = sorted(
                (bool(i[2]), tuple(c[2] for c in conn.execute(f"pragma index_info('{i[1]}')")))
                for i in conn.execute(f"pragma index_list({table})")
            )
            shape[table] = (columns, fks, indexes)
    return shape


def applied(db: Path) -> list[str]:
    return [r[0] for r in rows(db, "select name from django_migrations where app = 'esi' order by id")]


@pytest.fixture
def legacy_db(tmp_path: Path) -> Path:
    db = tmp_path / "legacy.sqlite3"
    shutil.copy(FIXTURE, db)
    return db


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture database after ``migrate`` (done once; tests copy it)."""
    db = tmp_path_factory.mktemp("migrated") / "migrated.sqlite3"
    shutil.copy(FIXTURE, db)
    django(db, "migrate", "--noinput")
    return db


@pytest.fixture
def migrated_db(migrated_template: Path, tmp_path: Path) -> Path:
    db = tmp_path / "site.sqlite3"
    shutil.copy(migrated_template, db)
    return db


def test_fixture_is_a_django_esi_10_database(legacy_db: Path) -> None:
    assert applied(legacy_db) == THEIR_MIGRATIONS
    assert "access_token_expires" not in str(esi_schema(legacy_db))


def test_our_0001_creates_exactly_the_django_esi_10_schema(tmp_path: Path, legacy_db: Path) -> None:
    fresh = tmp_path / "fresh.sqlite3"
    django(fresh, "migrate", "auth", "--noinput")
    django(fresh, "migrate", "esi", "0001", "--noinput")
    assert esi_schema(fresh) == esi_schema(legacy_db)


def test_migrate_applies_only_our_new_migrations_and_keeps_every_row(legacy_db: Path) -> None:
    before = {
        t: rows(legacy_db, f"select * from {t} order by id") for t in ("esi_scope", "esi_token_scopes", "auth_user")
    }
    output = django(legacy_db, "migrate", "--noinput")
    esi_applied = [line.split()[1].rstrip(".") for line in output.splitlines() if "Applying esi." in line]
    assert esi_applied == [
        "esi.0014_token_expiry_and_updated",
        "esi.0015_delete_stale_callback_redirects",
        "esi.0016_callbackredirect_pkce",
        "esi.0017_token_refresh_token_encrypted",
        "esi.0018_dashboard",
    ]
    assert applied(legacy_db)[: len(THEIR_MIGRATIONS)] == THEIR_MIGRATIONS
    for table, content in before.items():
        assert rows(legacy_db, f"select * from {table} order by id") == content, table

    tokens = rows(
        legacy_db,
        "select id, character_id, character_name, character_owner_hash, refresh_token, user_id, "
        "access_token_expires, token_type, sso_version from esi_token order by id",
    )
    assert tokens == [
        (1, 90000001, "Harness Pilot One", "owner-hash-one", "legacy-refresh-token-one", 1, None, "character", 2),
        (2, 90000002, "Harness Pilot Two", "owner-hash-two", None, 1, None, "character", 2),
        (3, 90000003, "Orphan Three", "owner-hash-three", "legacy-refresh-token-three", None, None, "character", 2),
    ]
    scopes = rows(
        legacy_db,
        "select t.token_id, s.name from esi_token_scopes t join esi_scope s on s.id = t.scope_id order by 1, 2",
    )
    assert scopes == [(1, ASSETS), (1, WALLET), (3, ASSETS)]
    created = dict(rows(legacy_db, "select id, created from esi_token"))
    assert created[1] < created[2]  # token 1 was created three days before the others: kept


def test_migrating_twice_is_a_no_op(migrated_db: Path) -> None:
    output = django(migrated_db, "migrate", "--noinput")
    assert "No migrations to apply" in output


def test_encrypted_rows_are_decrypted_on_the_way_back(migrated_db: Path, legacy_db: Path) -> None:
    plain = rows(legacy_db, "select id, refresh_token from esi_token order by id")
    django(migrated_db, "esi_encrypt_tokens")
    encrypted = rows(migrated_db, "select id, refresh_token from esi_token order by id")
    assert encrypted != plain and all(v is None or v.startswith("esi-fernet$") for _, v in encrypted)
    django(migrated_db, "migrate", "esi", "0016", "--noinput")
    assert rows(migrated_db, "select id, refresh_token from esi_token order by id") == plain


def test_back_to_the_django_esi_10_schema_keeps_the_tokens(migrated_db: Path, legacy_db: Path) -> None:
    django(migrated_db, "migrate", "esi", "0001", "--noinput")
    assert esi_columns(migrated_db) == esi_columns(legacy_db)
    assert rows(migrated_db, "select id, refresh_token from esi_token order by id") == rows(
        legacy_db, "select id, refresh_token from esi_token order by id"
    )


def test_fresh_database_forward_and_back_to_zero(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"
    django(db, "migrate", "--noinput")
    assert {"esi_token", "esi_scope", "esi_token_scopes", "esi_callbackredirect"} <= {
        r[0] for r in rows(db, "select name from sqlite_master where type = 'table'")
    }
    django(db, "migrate", "esi", "zero", "--noinput")
    assert esi_schema(db) == []
    assert applied(db) == []
    django(db, "migrate", "--noinput")
    assert applied(db)[-1] == "0018_dashboard"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):  # the suite runs on PostgreSQL: there too
        postgresql_forward_and_back_to_zero(url)


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", "esi", "--check", "--dry-run", verbosity=0)


# What the upgraded site does with its old tokens, in its own process.
LEGACY_SITE = r"""
import json, os, django
django.setup()
from django.conf import settings
settings.ESI_SSO_BASE_URL = os.environ["SIM_URL"]
settings.ESI_API_URL = os.environ["SIM_URL"] + "/"
from esi.exceptions import NotRefreshableError
from esi.models import Token
out = {}
one = Token.objects.get(pk=1)
out["one_before"] = [one.expired, one.can_refresh, one.access_token_expires]
access = one.valid_access_token()
one = Token.objects.get(pk=1)
out["one_after"] = [one.access_token == access, access.count("."), one.refresh_token != "legacy-refresh-token-one",
                    one.expired, one.scope_names, one.character_owner_hash]
both = "esi-assets.read_assets.v1 esi-wallet.read_character_wallet.v1"
out["require_scopes"] = list(Token.objects.require_scopes(both).require_valid().values_list("pk", flat=True))
two = Token.objects.get(pk=2)
out["two_can_refresh"] = two.can_refresh
try:
    two.valid_access_token()
except NotRefreshableError as exc:
    out["two_error"] = str(exc)
out["two_still_stored"] = Token.objects.filter(pk=2).exists()
out["require_valid"] = sorted(Token.objects.filter(pk__in=[1, 2]).require_valid().values_list("pk", flat=True))
print(json.dumps(out))
"""


@pytest.mark.django_db
def test_migrated_tokens_work_against_sso(migrated_db: Path, esi_sim, redis_client) -> None:
    esi_sim.accept_refresh_token("legacy-refresh-token-one", 90000001, [ASSETS, WALLET])
    out = json.loads(django(migrated_db, "-c", LEGACY_SITE, env={"SIM_URL": esi_sim.url}))

    assert out["one_before"] == [True, True, None]  # expiry unknown, created days ago -> refreshed on first use
    same, dots, rotated, expired, scopes, owner = out["one_after"]
    assert same and dots == 2 and rotated and not expired
    assert scopes == [ASSETS, WALLET] and owner == "owner-hash-one"
    assert out["require_scopes"] == [1]
    assert out["two_can_refresh"] is False
    assert "no refresh token" in out["two_error"] and "legacy-access-token-two" not in out["two_error"]
    assert out["two_still_stored"] is True
    assert out["require_valid"] == [1]
    assert esi_sim.stats()["sso"]["token_refresh_token"] == 1


def postgresql_forward_and_back_to_zero(url: str) -> None:
    """The same round trip on a scratch database of the PostgreSQL server the suite runs on."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = f"esi_migrations_{os.getpid()}"
    admin = {"host": config["HOST"] or "127.0.0.1", "port": config["PORT"] or 5432, "user": config["USER"]}
    if config.get("PASSWORD"):
        admin["password"] = config["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    scratch = url.rsplit("/", 1)[0] + "/" + name
    env = {"DATABASE_URL": scratch}
    try:
        django(Path("unused"), "migrate", "--noinput", env=env)
        django(Path("unused"), "migrate", "esi", "zero", "--noinput", env=env)
        django(Path("unused"), "migrate", "--noinput", env=env)
        out = django(Path("unused"), "showmigrations", "esi", env=env)
        assert "[X] 0017_token_refresh_token_encrypted" in out
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

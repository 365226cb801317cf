"""The README's set-up scripts: install only when the metadata changed, honour the Redis URL, clean builds."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]

# Stands in for a virtualenv's python: records how it was called; `-m venv` is never needed.
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$1" in -V) echo "Python 3.11.0" ;; esac
"""


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copy(ROOT / "scripts" / "ensure-venv", project / "scripts" / "ensure-venv")
    venv_bin = project / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(FAKE_PYTHON)
    (venv_bin / "python").chmod(0o755)
    return project


def _pip_installs(project: Path, extras: str = "test") -> list[str]:
    done = subprocess.run(
        [str(project / "scripts" / "ensure-venv"), str(project / "venv"), extras],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls = (project / "venv" / "bin" / "calls").read_text().splitlines()
    (project / "venv" / "bin" / "calls").write_text("")
    return [call for call in calls if call.startswith("-m pip install")]


def test_the_install_runs_again_only_when_the_metadata_or_the_extras_change(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    assert _pip_installs(project) == ["-m pip install -q --disable-pip-version-check -e .[test]"]
    assert _pip_installs(project) == []  # second run: nothing changed, no pip
    assert _pip_installs(project, "demo") == ["-m pip install -q --disable-pip-version-check -e .[demo]"]
    with (project / "setup.cfg").open("a") as cfg:
        cfg.write("\n# a new dependency\n")
    assert len(_pip_installs(project)) == 1
    assert _pip_installs(project) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ensure_redis_starts_a_server_on_the_port_of_the_url_it_is_given(tmp_path: Path) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/3"
    env = {**os.environ, "ESI_TEST_REDIS_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    done = subprocess.run([str(ROOT / "scripts" / "ensure-redis")], env=env, capture_output=True, text=True, timeout=60)
    client = redis.Redis.from_url(url)
    try:
        assert done.returncode == 0, done.stderr
        assert f"starting redis-server on 127.0.0.1:{port}" in done.stderr
        assert client.ping()
        again = subprocess.run(
            [str(ROOT / "scripts" / "ensure-redis"), url], capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0 and again.stderr == ""  # already up: nothing to do
    finally:
        client.shutdown(nosave=True)  # the server this test started, on its own port


def test_ensure_redis_reports_a_remote_server_that_does_not_answer() -> None:
    url = "redis://192.0.2.1:6390/0"  # TEST-NET-1: never answers
    done = subprocess.run([str(ROOT / "scripts" / "ensure-redis"), url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"Redis at 192.0.2.1:6390 ({url}) does not answer; start it, or point the URL at a running server"
    )


def test_the_wheel_builds_without_setuptools_warnings_and_holds_the_package_data(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    for package in ("esi", "esi_tasks"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stdout + done.stderr.replace("WARNING: Location", "")
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "esi/data/openapi-2026-08-04.json",
        "esi/templates/esi/base.html",
        "esi/py.typed",
        "esi_tasks/py.typed",
    ):
        assert expected in names
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "example_project/"))]

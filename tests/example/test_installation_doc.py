"""docs/installation.md, followed literally: a new ``startproject`` site fetching through a Celery worker.

The steps are read from the page's own code blocks (nothing of them is repeated here): a Python
block starting with a ``# path`` comment goes at the end of that file (or creates it), a shell
block is run line by line in the project, ``runserver`` / ``celery ... worker|beat`` in the
background. Two things differ from a real site, both said below: the packages are already in
this virtualenv (``pip install``, ``apt-get`` are not run), and before the first ``manage.py``
command the settings get this machine's Redis database, the simulator's URLs and a callback URL
on a free port (``runserver`` is given that port). Then an SSO login without ``next=`` lands on
the documented ``LOGIN_REDIRECT_URL``.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as test_settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "installation.md"
SECTION = "## Add django-esi to your project"
BIN = Path(sys.executable).parent
PROVIDED = ["pip install django-esi", "sudo apt-get install redis-server"]  # this virtualenv, the test Redis
BACKGROUND = re.compile(r"^(python manage\.py runserver|celery -A \S+ (worker|beat))\b")

pytestmark = pytest.mark.slow


def blocks(markdown: str, section: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block in ``section`` (up to the next heading)."""
    text = re.split(r"^#{2,3} ", markdown.split(section, 1)[1], flags=re.M)[0]
    found = re.findall(r"^([ \t]*)```(\w+)\n(.*?)^\1```", text, flags=re.M | re.S)
    return [(language, textwrap.dedent(code)) for _indent, language, code in found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NewSite:
    """The shell of a newcomer: a working directory, the virtualenv's commands, background processes."""

    cwd: Path
    env: dict[str, str]
    overrides: str
    background: dict[str, tuple[subprocess.Popen[str], Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    port: int = 0

    def write(self, code: str) -> None:
        first, _, _ = code.partition("\n")
        assert first.startswith("# "), f"a Python block must start with its file name: {first!r}"
        path = self.cwd / first[2:].strip()
        before = path.read_text() if path.exists() else ""
        path.write_text(before + ("\n" if before and not before.endswith("\n") else "") + code)

    def argv(self, line: str) -> list[str]:
        words = shlex.split(line)
        if words[0] == "python":
            return [sys.executable, *words[1:]]
        return [str(BIN / words[0]), *words[1:]]

    def run(self, line: str) -> None:
        if line in PROVIDED:
            self.skipped.append(line)
            return
        if line.startswith("cd "):
            self.cwd = self.cwd / line[3:].strip()
            return
        if "manage.py" in line and self.overrides:
            (self.cwd / "mysite" / "settings.py").open("a").write(self.overrides)
            self.overrides = ""
        argv = self.argv(line)
        if BACKGROUND.match(line):
            if "runserver" in line:
                argv += [f"127.0.0.1:{self.port}", "--noreload"]
            log = self.cwd.parent / f"{len(self.background)}.log"
            process = subprocess.Popen(
                argv, cwd=self.cwd, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
            )
            self.background[line] = (process, log)
            return
        done = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{line!r} failed:\n{done.stdout}\n{done.stderr}"
        self.outputs[line] = done.stdout + done.stderr

    def log(self, starts: str) -> str:
        (_process, path) = next(v for k, v in self.background.items() if k.startswith(starts))
        return path.read_text()

    def stop(self) -> None:
        for process, _ in self.background.values():
            process.terminate()
        for process, _ in self.background.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def site(tmp_path: Path, esi_sim: Any, redis_client: Any) -> Iterator[NewSite]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ESI_", "CELERY_", "PYTHONPATH"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1")
    redis, port = test_settings.ESI_TEST_REDIS_URL, free_port()
    overrides = (
        "\n# Test only: this machine's Redis database, the simulator instead of CCP's servers, and a\n"
        "# callback URL on the port runserver is given here.\n"
        f"ESI_REDIS_URL = CELERY_BROKER_URL = CELERY_RESULT_BACKEND = {redis!r}\n"
        f"ESI_API_URL = {esi_sim.url + '/'!r}\n"
        f"ESI_SSO_BASE_URL = {esi_sim.url!r}\n"
        f"ESI_SSO_CALLBACK_URL = 'http://127.0.0.1:{port}/sso/callback'\n"
        'ESI_DOWNTIME_START = ""\n'
    )
    new_site = NewSite(cwd=tmp_path, env=env, overrides=overrides, port=port)
    try:
        yield new_site
    finally:
        new_site.stop()


def test_a_new_project_set_up_from_the_installation_guide_fetches_through_a_worker(site: NewSite, esi_sim) -> None:
    steps = blocks(PAGE.read_text(), SECTION)
    assert [language for language, _ in steps].count("python") >= 5
    for language, code in steps:
        if language == "python":
            site.write(code)
        else:
            assert language == "bash", language
            for line in code.strip().splitlines():
                site.run(line)
    assert site.skipped == PROVIDED

    assert "System check identified no issues" in site.outputs["python manage.py check"]
    assert "static files copied" in site.outputs["python manage.py collectstatic --noinput"]
    (fetch,) = [out for line, out in site.outputs.items() if "fetch_endpoint" in line]
    assert "'players':" in fetch and "server_version" in fetch
    assert len(esi_sim.request_log("GetStatus")) == 1
    assert "Task esi_tasks.fetch_endpoint[" in site.log("celery -A mysite worker") and "succeeded" in site.log(
        "celery -A mysite worker"
    )

    deadline = time.monotonic() + 30
    while "Quit the server with" not in site.log("python manage.py runserver") and time.monotonic() < deadline:
        time.sleep(0.2)
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}", timeout=30) as browser:
        assert browser.get("/admin/login/").status_code == 200  # the admin's static files were collected
        login = browser.get("/sso/login/")  # no next=: LOGIN_REDIRECT_URL decides
        assert login.status_code == 302 and login.headers["location"].startswith(f"{esi_sim.url}/v2/oauth/authorize")
        approved = httpx.get(login.headers["location"], timeout=30)  # the simulator approves at once
        assert approved.status_code == 302
        done = browser.get(approved.headers["location"])
        assert done.status_code == 302 and done.headers["location"] == "/admin/"
    deadline = time.monotonic() + 30
    while "beat: Starting" not in site.log("celery -A mysite beat") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "DatabaseScheduler" in site.log("celery -A mysite beat")


def test_the_readme_install_steps_are_the_tested_ones() -> None:
    readme = blocks((ROOT / "README.md").read_text(), "## Install in your project")
    guide = [code for _, code in blocks(PAGE.read_text(), SECTION)]
    assert readme, "the README has no install steps"
    for _, code in readme:
        assert code in guide, f"README block not in docs/installation.md:\n{code}"

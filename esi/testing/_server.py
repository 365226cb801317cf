"""Running the simulator: in this process (``serve``) or as a child process (``start_simulator``)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

from esi.testing._control import SimulatorControl

__all__ = ["SimulatorHandle", "serve", "start_simulator"]

_READY = "ESI simulator listening on "


MISSING_SERVER = (
    'The ESI simulator needs uvicorn, which comes with the "testing" extra: pip install "django-esi[testing]"'
)


def require_server() -> None:
    """Raise ``ModuleNotFoundError`` naming the extra to install when uvicorn is missing."""
    if importlib.util.find_spec("uvicorn") is None:
        raise ModuleNotFoundError(MISSING_SERVER, name="uvicorn")


def _exit_with_parent(parent_pid: int) -> None:
    """Stop when the process that started us is gone (a crashed test run leaves no server behind)."""
    while True:
        time.sleep(1)
        if os.getppid() != parent_pid:
            os._exit(0)


def serve(
    host: str = "127.0.0.1", port: int = 0, spec_files: tuple[str, ...] = (), parent_pid: int | None = None
) -> None:
    """Serve until interrupted; prints one line ``ESI simulator listening on <url>`` when bound."""
    require_server()
    import uvicorn

    from esi.testing._app import Simulator

    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
    # and without it every keep-alive answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    app = Simulator(url, spec_files)
    config = uvicorn.Config(
        app,
        http="auto",  # httptools when installed (the "testing" extra), else h11
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        backlog=2048,
        server_header=False,
        date_header=False,  # the app sends Date (esi.testing._app._send), from the clock of its Expires
        timeout_graceful_shutdown=1,
    )
    if parent_pid:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    print(_READY + url, flush=True)
    uvicorn.Server(config).run(sockets=[sock])


class SimulatorHandle:
    """A simulator running in a child process: ``.url``, ``.control``, ``.stop()``; a context manager."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.control = SimulatorControl(url)

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r}, pid={self.process.pid})"

    def stop(self) -> None:
        """Stop the server process (terminate, then kill if it does not exit)."""
        self.control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_simulator(
    port: int = 0, host: str = "127.0.0.1", spec_files: tuple[str, ...] = (), timeout: float = 20.0
) -> SimulatorHandle:
    """Start ``python -m esi.testing`` on ``port`` (0: a free one) and wait until it answers."""
    require_server()
    root = str(Path(__file__).resolve().parent.parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "esi.testing", "--host", host, "--port", str(port), "--parent-pid", str(os.getpid())]
    for spec in spec_files:
        cmd += ["--spec", spec]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline() if process.stdout else ""))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    if not line or not line[0].startswith(_READY):
        process.kill()
        process.wait()
        raise RuntimeError(f"The ESI simulator did not start within {timeout} s (exit code {process.poll()}).")
    url = line[0][len(_READY) :].strip()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/_sim/ping", timeout=1).status_code == 200:
                return SimulatorHandle(process, url)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"The ESI simulator at {url} did not answer within {timeout} s.")

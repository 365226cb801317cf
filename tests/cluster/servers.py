"""Real Redis deployments on free loopback ports, in a temporary folder: a 3-master Redis Cluster
and a master watched by one Sentinel. Started and torn down by ``tests/cluster/conftest.py``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

READY_WAIT = 30.0  # seconds a server gets to come up (a busy 2-core machine)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(bus: bool = False) -> int:
    """A free loopback port; with ``bus``, port + 10000 (the cluster bus) is free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not bus:
            return port
        if port + 10000 < 65536 and _bindable(port + 10000):
            return port


def _wait(what: str, ready: object, log: Path) -> None:
    deadline = time.monotonic() + READY_WAIT
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up; see {log}")


class _Servers:
    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, *args: str) -> None:
        self.processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _server(self, port: int, *extra: str) -> None:
        folder = self.dir / str(port)
        folder.mkdir()
        self._spawn(
            "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(folder / "redis.log"),
            *extra,
        )  # fmt: skip

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalCluster(_Servers):
    """Three masters, no replicas, all 16384 slots assigned (``redis-cli --cluster create``)."""

    def __init__(self) -> None:
        super().__init__("esi-cluster-")
        self.ports = [free_port(bus=True) for _ in range(3)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> LocalCluster:
        for port in self.ports:
            self._server(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", "5000")  # fmt: skip
        for port in self.ports:
            _wait(f"cluster node {port}", redis.Redis(port=port).ping, self.dir / str(port) / "redis.log")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        for port in self.ports:
            node = redis.Redis(port=port)
            _wait(
                f"cluster_state:ok on {port}",
                lambda node=node: node.cluster("info")["cluster_state"] == "ok",
                self.dir / str(port) / "redis.log",
            )
        return self

    def keys_per_master(self, pattern: str = "*") -> dict[int, int]:
        """How many keys matching ``pattern`` each master holds (to show a test spans the cluster)."""
        return {port: sum(1 for _ in redis.Redis(port=port).scan_iter(match=pattern)) for port in self.ports}


class LocalSentinel(_Servers):
    """One master and one Sentinel watching it as ``esi``."""

    service = "esi"

    def __init__(self) -> None:
        super().__init__("esi-sentinel-")
        self.master_port = free_port()
        self.sentinel_port = free_port()

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/{db}"

    def start(self) -> LocalSentinel:
        self._server(self.master_port)
        _wait("the master", redis.Redis(port=self.master_port).ping, self.dir / str(self.master_port) / "redis.log")
        folder = self.dir / "sentinel"
        folder.mkdir()
        conf = folder / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} 5000\n"
        )
        self._spawn("redis-server", str(conf), "--sentinel")
        sentinel = redis.Redis(port=self.sentinel_port)
        _wait(
            "the sentinel",
            lambda: sentinel.execute_command("SENTINEL", "get-master-addr-by-name", self.service) is not None,
            folder / "sentinel.log",
        )
        return self

"""Real Redis deployments on free loopback ports, in a temporary folder: a 3-master Redis Cluster
and a master watched by one Sentinel. Started and torn down by ``tests/cluster/conftest.py``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis

from tests.servers import READY_WAIT, wait_until


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


def _wait(what: str, ready: Callable[[], object], log: Path) -> None:
    wait_until(what, ready, READY_WAIT, f"see {log}")


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
    """Three masters, all 16384 slots assigned (``redis-cli --cluster create``); with
    ``replicas=1`` each master has a replica that takes over when its master dies."""

    def __init__(self, replicas: int = 0, node_timeout_ms: int = 5000) -> None:
        super().__init__("esi-cluster-")
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_port(bus=True) for _ in range(3 * (1 + replicas))]
        self._by_port: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> LocalCluster:
        for port in self.ports:
            self._server(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", str(self.node_timeout_ms))  # fmt: skip
            self._by_port[port] = self.processes[-1]
        for port in self.ports:
            _wait(f"cluster node {port}", redis.Redis(port=port).ping, self.dir / str(port) / "redis.log")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        for port in self.ports:
            self.wait_ok(port)
        if self.replicas:
            _wait("every replica in sync", lambda: all(self._in_sync(p) for p in self.replica_ports()), self.dir)
        return self

    def wait_ok(self, port: int, *, masters: int = 3) -> None:
        """Until node ``port`` sees ``cluster_state:ok`` with ``masters`` masters serving every slot."""
        node = redis.Redis(port=port)

        def ok() -> bool:
            info = node.cluster("info")
            return bool(info["cluster_state"] == "ok" and int(info["cluster_size"]) == masters)

        _wait(f"cluster_state:ok on {port}", ok, self.dir / str(port) / "redis.log")

    @staticmethod
    def node(port: int) -> redis.Redis:
        return redis.Redis(port=port)

    def replica_of(self, master: int) -> int:
        """The port of the replica of master ``master``."""
        return next(p for p in self.replica_ports() if int(self.node(p).info("replication")["master_port"]) == master)

    def master_ports(self) -> list[int]:
        return [p for p in self.alive() if redis.Redis(port=p).info("replication")["role"] == "master"]

    def replica_ports(self) -> list[int]:
        return [p for p in self.alive() if redis.Redis(port=p).info("replication")["role"] == "slave"]

    def alive(self) -> list[int]:
        return [p for p, process in self._by_port.items() if process.poll() is None]

    @staticmethod
    def _in_sync(port: int) -> bool:
        return bool(redis.Redis(port=port).info("replication").get("master_link_status") == "up")

    def kill(self, port: int) -> None:
        """Kill node ``port`` at once (SIGKILL: no goodbye to the cluster)."""
        process = self._by_port[port]
        process.kill()
        process.wait(timeout=10)

    def keys_per_master(self, pattern: str = "*") -> dict[int, int]:
        """How many keys matching ``pattern`` each master holds (to show a test spans the cluster)."""
        return {port: sum(1 for _ in redis.Redis(port=port).scan_iter(match=pattern)) for port in self.master_ports()}


class LocalSentinel(_Servers):
    """One master and one Sentinel watching it as ``esi``; with ``replica=True`` a replica the
    Sentinel promotes when the master is down for ``down_after_ms``."""

    service = "esi"

    def __init__(self, replica: bool = False, down_after_ms: int = 5000) -> None:
        super().__init__("esi-sentinel-")
        self.master_port = free_port()
        self.sentinel_port = free_port()
        self.replica_port = free_port() if replica else None
        self.down_after_ms = down_after_ms

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/{db}"

    @property
    def sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port)

    def master_addr(self) -> int | None:
        """The port of the master the Sentinel names now."""
        addr = self.sentinel.execute_command("SENTINEL", "get-master-addr-by-name", self.service)
        return int(addr[1]) if addr else None

    def start(self) -> LocalSentinel:
        self._server(self.master_port)
        _wait("the master", redis.Redis(port=self.master_port).ping, self.dir / str(self.master_port) / "redis.log")
        if self.replica_port is not None:
            self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
            replica = redis.Redis(port=self.replica_port)
            _wait(
                "the replica in sync",
                lambda: replica.info("replication").get("master_link_status") == "up",
                self.dir / str(self.replica_port) / "redis.log",
            )
        folder = self.dir / "sentinel"
        folder.mkdir()
        conf = folder / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} 10000\n"
        )
        self._spawn("redis-server", str(conf), "--sentinel")
        sentinel = self.sentinel
        _wait(
            "the sentinel",
            lambda: sentinel.execute_command("SENTINEL", "get-master-addr-by-name", self.service) is not None,
            folder / "sentinel.log",
        )
        if self.replica_port is not None:  # the Sentinel learns the replica from the master's INFO
            _wait(
                "the sentinel to know the replica",
                lambda: len(sentinel.execute_command("SENTINEL", "replicas", self.service)) == 1,
                folder / "sentinel.log",
            )
        return self

    def kill_master(self) -> None:
        """Kill the master at once (SIGKILL)."""
        process = self.processes[0]
        process.kill()
        process.wait(timeout=10)

    def wait_promoted(self) -> None:
        """Until the Sentinel names the replica as the master, and the replica says it is one."""
        assert self.replica_port is not None
        replica = redis.Redis(port=self.replica_port)
        _wait(
            "the sentinel to promote the replica",
            lambda: self.master_addr() == self.replica_port and replica.info("replication")["role"] == "master",
            self.dir / "sentinel" / "sentinel.log",
        )

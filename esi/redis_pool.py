"""One Redis client per process, configured by settings and rebuilt after ``fork``.

Everything that talks to Redis (cache, limits, locks, dedup claims, JWKS) calls :func:`get_redis`,
so one set of settings decides how a slow or restarting Redis is met: ``ESI_REDIS_SOCKET_TIMEOUT``
(no call hangs a worker), ``ESI_REDIS_CONNECT_TIMEOUT``, ``ESI_REDIS_RETRIES`` retries of
connection errors and timeouts with exponential backoff (redis-py's ``Retry`` and
``ExponentialBackoff``: a Redis restart of a second or two is ridden out) and
``ESI_REDIS_HEALTH_CHECK_INTERVAL`` (idle pooled connections are checked before use).

``ESI_REDIS_URL`` names one of three deployments (see ``docs/redis.md``), each built with what
redis-py offers for it:

* ``redis://``, ``rediss://``, ``unix://``: one server (``redis.Redis.from_url``);
* ``redis+cluster://host:port[,host:port...]``: a Redis Cluster (``redis.cluster.RedisCluster``,
  the hosts are startup nodes; the rest is discovered);
* ``redis+sentinel://host:port[,host:port...]/<service>[/<db>]``: the master Sentinel names
  (``redis.sentinel.Sentinel.master_for``; a failover is followed on the next connection).

What is still failing after that is the caller's to decide: :func:`unavailable` turns it into the
one documented :class:`~esi.exceptions.RedisUnavailable` (the cause chained), and
:data:`REDIS_ERRORS` is what bookkeeping code catches to skip a step.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel

from esi.app_settings import esi_settings, settings_generation
from esi.exceptions import RedisUnavailable

__all__ = [
    "REDIS_ERRORS",
    "SCHEMES",
    "RedisTarget",
    "get_redis",
    "is_cluster",
    "mget",
    "parse_redis_url",
    "queue_script",
    "reset_redis",
    "unavailable",
]

#: Every error redis-py raises for a Redis that is down, slow, restarting or read-only (its
#: cluster client's own errors do not derive from ``RedisError``).
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, RedisClusterException, OSError)

_PLAIN = ("redis", "rediss", "unix")
_CLUSTER = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_SENTINEL = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}
#: Every scheme ``ESI_REDIS_URL`` accepts.
SCHEMES = (*_PLAIN, *_CLUSTER, *_SENTINEL)

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}
_last: tuple[int, redis.Redis] | None = None  # (settings generation, client): get_redis's last answer


@dataclass(frozen=True)
class RedisTarget:
    """What ``ESI_REDIS_URL`` names: ``kind`` is ``"single"``, ``"cluster"`` or ``"sentinel"``."""

    kind: str
    url: str  # single: the URL itself; cluster: a plain URL of the first node; sentinel: unused
    nodes: tuple[tuple[str, int], ...] = ()  # cluster startup nodes / sentinels
    service: str = ""  # sentinel: the master's name
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    options: tuple[tuple[str, str], ...] = ()  # sentinel: query options (sentinel_password=...)


def _hosts(netloc: str, default_port: int) -> tuple[str | None, str | None, list[tuple[str, int]]]:
    userinfo, _, hosts = netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) if has_password else None
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if item.startswith("["):  # [::1]:7000
            host, _, rest = item[1:].partition("]")
            port_text = rest.removeprefix(":")
        else:
            host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
        if not host:
            raise ValueError(f"{item!r} names no host")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ValueError(f"{item!r} has a port that is not a number") from None
        nodes.append((host, port))
    return username, password, nodes


def parse_redis_url(url: str) -> RedisTarget:
    """What ``url`` names; ``ValueError`` saying what is wrong (the system check shows it)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    if scheme in _PLAIN:
        parts = urlsplit(url)
        if scheme != "unix" and not parts.hostname:
            raise ValueError("it names no host")
        return RedisTarget("single", url)
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    if scheme in _CLUSTER:
        username, password, nodes = _hosts(netloc, 6379)
        if path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has only database 0")
        auth = netloc.rpartition("@")[0]
        first = f"{_CLUSTER[scheme]}://{auth + '@' if auth else ''}{_join(nodes[0])}/0"
        return RedisTarget(
            "cluster", first + (f"?{query}" if query else ""), tuple(nodes), username=username, password=password
        )
    username, password, nodes = _hosts(netloc, 26379)
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        raise ValueError("it names no service: redis+sentinel://host:26379[,host:port...]/<service>[/<db>]")
    try:
        db = int(db_text) if db_text else 0
    except ValueError:
        raise ValueError(f"the database {db_text!r} is not a number") from None
    options = tuple(parse_qsl(query))
    return RedisTarget(
        "sentinel",
        url,
        tuple(nodes),
        service=unquote(service),
        db=db,
        username=username,
        password=password,
        ssl=_SENTINEL[scheme] == "rediss",
        options=options,
    )


def _join(node: tuple[str, int]) -> str:
    host, port = node
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _retry() -> Retry:
    retries = max(0, int(esi_settings.ESI_REDIS_RETRIES))
    backoff = float(esi_settings.ESI_REDIS_RETRY_BACKOFF)
    return Retry(
        ExponentialBackoff(cap=max(backoff, 8 * backoff), base=backoff),
        retries,
        supported_errors=(redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError),
    )


def _timeouts() -> dict[str, Any]:
    return {
        "socket_timeout": float(esi_settings.ESI_REDIS_SOCKET_TIMEOUT),
        "socket_connect_timeout": float(esi_settings.ESI_REDIS_CONNECT_TIMEOUT),
    }


def _build(url: str) -> redis.Redis:
    target = parse_redis_url(url)
    health = int(esi_settings.ESI_REDIS_HEALTH_CHECK_INTERVAL)
    if target.kind == "cluster":
        # Node connections get the timeouts (redis-py keeps health checks and per-command
        # retries to itself in cluster mode); ``retry`` covers MOVED/ASK, failovers and timeouts.
        startup = [ClusterNode(h, p) for h, p in target.nodes[1:]]  # type: ignore[no-untyped-call, unused-ignore]
        try:  # the cluster client asks a node for the slot map right away
            cluster = RedisCluster.from_url(target.url, startup_nodes=startup, retry=_retry(), **_timeouts())
        except RedisClusterException as exc:  # not cached: the next get_redis() tries again
            raise redis.ConnectionError(f"no node of the Redis Cluster at ESI_REDIS_URL answered: {exc}") from exc
        return cast(redis.Redis, cluster)  # the same command API for everything this project sends
    if target.kind == "sentinel":
        options = dict(target.options)
        sentinel_kwargs: dict[str, Any] = {**_timeouts(), "ssl": target.ssl}
        if "sentinel_password" in options:
            sentinel_kwargs["password"] = options.pop("sentinel_password")
        if "sentinel_username" in options:
            sentinel_kwargs["username"] = options.pop("sentinel_username")
        if options:
            raise ValueError(f"unknown option(s) {', '.join(sorted(options))} (sentinel_password, sentinel_username)")
        sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call, unused-ignore]
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call, unused-ignore]
            target.service,
            db=target.db,
            username=target.username,
            password=target.password,
            ssl=target.ssl,
            health_check_interval=health,
            retry=_retry(),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            **_timeouts(),
        )
        return master
    client: redis.Redis = redis.Redis.from_url(
        url,
        health_check_interval=health,
        retry=_retry(),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        **_timeouts(),
    )
    return client


def get_redis() -> redis.Redis:
    """The process-wide Redis client for ``ESI_REDIS_URL`` (bytes responses, pooled).

    On Redis Cluster it is a :class:`redis.cluster.RedisCluster` (typed as ``redis.Redis``: the
    commands this project sends are the same; see :func:`is_cluster`). Building one asks a node
    for the slot map, so on a cluster that does not answer this raises ``redis.ConnectionError``
    (one of :data:`REDIS_ERRORS`); call it where such errors are handled.
    """
    global _last
    gen = settings_generation()  # bumped by setting_changed, forget() and in a forked child
    last = _last
    if last is not None and last[0] == gen:
        return last[1]  # the hot path: no settings read, no getpid() (twice per uncached call)
    url: str = esi_settings.ESI_REDIS_URL
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _build(url)
                _clients[key] = client
    _last = (gen, client)
    return client


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster (multi-key commands need one hash tag there)."""
    return isinstance(client, RedisCluster)


def mget(client: Any, keys: list[str]) -> list[Any]:
    """``MGET`` of ``keys``; on a cluster one ``MGET`` per slot (keys of many slots cannot share one)."""
    if not keys:
        return []
    if is_cluster(client):
        return list(client.mget_nonatomic(keys))
    return list(client.mget(keys))


_loaded_in: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def queue_script(pipe: Any, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` on ``pipe`` (a pipeline of :func:`get_redis`'s client).

    redis-py's cluster pipeline refuses ``script(..., client=pipe)`` (EVALSHA is blocked as a
    pipeline method), so there the script is loaded on every master once per pipeline
    (``SCRIPT LOAD``, idempotent) and ``EVALSHA`` is queued as a plain command whose keys pick
    the master. On one server redis-py's own pipeline support is used (it loads what is missing).
    """
    if not isinstance(pipe, ClusterPipeline):
        script(keys=list(keys), args=list(args), client=pipe)
        return
    loaded = _loaded_in.setdefault(pipe, set())
    if script.sha not in loaded:
        script.registered_client.script_load(script.script)
        loaded.add(script.sha)
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call, unused-ignore]


def reset_redis() -> None:
    """Drop every pooled connection (tests, and after a settings change)."""
    global _last
    with _lock:
        _last = None
        for client in _clients.values():
            pool = getattr(client, "connection_pool", None)
            if pool is not None:
                pool.disconnect()
            else:  # a cluster: one pool per node
                client.close()
        _clients.clear()


@contextlib.contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Raise :class:`RedisUnavailable` naming ``what`` when Redis fails inside the block."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise RedisUnavailable(
            f"Redis at ESI_REDIS_URL did not answer while {what} ({type(exc).__name__}); "
            "nothing was changed. Retry once Redis is back."
        ) from exc

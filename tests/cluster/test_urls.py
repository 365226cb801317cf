"""``ESI_REDIS_URL``'s three forms, and a clear error for every malformed one."""

from __future__ import annotations

import pytest
from django.test import override_settings

from esi.checks import check_setting_values
from esi.redis_pool import RedisTarget, parse_redis_url


def test_one_server() -> None:
    assert parse_redis_url("redis://127.0.0.1:6379/3") == RedisTarget("single", "redis://127.0.0.1:6379/3")
    assert parse_redis_url("unix:///run/redis.sock?db=1").kind == "single"


def test_cluster_startup_nodes_and_credentials() -> None:
    target = parse_redis_url("rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002?ssl_cert_reqs=none")
    assert target.kind == "cluster"
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (target.username, target.password) == ("app", "s@cret")
    assert target.url == "rediss://app:s%40cret@10.0.0.1:7000/0?ssl_cert_reqs=none"


def test_sentinel_service_db_and_sentinel_password() -> None:
    target = parse_redis_url("redis+sentinel://:pw@s1:26379,s2/esi-master/4?sentinel_password=other")
    assert (target.kind, target.service, target.db) == ("sentinel", "esi-master", 4)
    assert target.nodes == (("s1", 26379), ("s2", 26379))
    assert target.password == "pw" and dict(target.options) == {"sentinel_password": "other"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("localhost:6379", "scheme must be one of"),
        ("http://localhost:6379", "scheme must be one of"),
        ("redis://", "names no host"),
        ("redis+cluster://h:7000/2", "only database 0"),
        ("redis+cluster://h:70x0", "port that is not a number"),
        ("redis+cluster://:7000", "names no host"),
        ("redis+sentinel://s1:26379", "names no service"),
        ("redis+sentinel://s1:26379/esi/two", "is not a number"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_redis_url(url)


@override_settings(ESI_REDIS_URL="redis+sentinel://:hunter2@s1:26379")
def test_the_start_up_check_names_the_problem_not_the_password() -> None:
    (message,) = check_setting_values()
    assert message.id == "esi.E014" and "names no service" in message.msg and "hunter2" not in message.msg


@override_settings(ESI_REDIS_URL="redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
def test_a_cluster_url_passes_the_start_up_check() -> None:
    assert check_setting_values() == []

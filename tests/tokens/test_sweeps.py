"""Many tokens at once: one outcome per token by one policy, two SQL statements per token, and a
lane run again after it was killed refreshes nothing twice (SSO refresh POSTs counted)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from esi.models import Token
from esi.tokens import Outcome, outcome_of, refresh, refresh_many
from esi_tasks import token_refresh
from tests.sso.fixtures import ASSETS

pytestmark = pytest.mark.django_db


def refreshes(sim: Any) -> int:
    return sim.stats()["sso"].get("token_refresh_token", 0)


def _lapsing(make_token: Any, n: int, sim: Any) -> list[Token]:
    for i in range(n):
        sim.add_character(90000101 + i)
    tokens = [make_token(90000101 + i) for i in range(n)]  # other characters: a login reuses equivalent tokens
    soon = timezone.now() + dt.timedelta(minutes=1)
    Token.objects.filter(pk__in=[t.pk for t in tokens]).update(access_token_expires=soon)
    return tokens


def _impostor(sso: Any, token: Token) -> None:
    """SSO answers this token's next refresh with a token of another character."""
    sso.accept_refresh_token(token.refresh_token, 90000002, [ASSETS])  # _lapsing's are 90000101...


def test_a_failure_that_is_no_token_error_is_that_tokens_outcome_not_the_lanes_end(sso, make_token) -> None:
    a, b, c = _lapsing(make_token, 3, sso)
    _impostor(sso, b)
    old_access = b.access_token
    counts = token_refresh.refresh_lane([a.pk, b.pk, c.pk])
    assert counts == {"refreshed": 2, "failed": 1}
    stored = Token.objects.get(pk=b.pk)
    assert stored.access_token == old_access and stored.refresh_token != b.refresh_token  # rotated, kept
    assert refreshes(sso) == 3


def test_bulk_refresh_and_require_valid_leave_such_a_token_out(sso, make_token) -> None:
    a, b = _lapsing(make_token, 2, sso)
    _impostor(sso, b)
    assert sorted(Token.objects.all().bulk_refresh().values_list("pk", flat=True)) == [a.pk]
    Token.objects.filter(pk=b.pk).update(access_token_expires=timezone.now() - dt.timedelta(minutes=1))
    _impostor(sso, Token.objects.get(pk=b.pk))
    assert list(Token.objects.all().require_valid().values_list("pk", flat=True)) == [a.pk]
    assert Token.objects.filter(pk=b.pk).exists()  # kept: only SSO's refusal deletes


def test_the_single_token_methods_still_raise(sso, make_token) -> None:
    from esi.exceptions import SSOError

    (token,) = _lapsing(make_token, 1, sso)
    _impostor(sso, token)
    result = refresh(Token.objects.get(pk=token.pk), force=True)
    assert result.outcome is Outcome.FAILED and isinstance(result.error, SSOError)
    _impostor(sso, Token.objects.get(pk=token.pk))
    with pytest.raises(SSOError, match="character 90000002"):
        Token.objects.get(pk=token.pk).refresh()


def test_the_policy() -> None:
    from esi import exceptions as e

    assert outcome_of(e.TokenInvalidError("x")) is Outcome.INVALID
    assert outcome_of(e.NotRefreshableError("x")) is Outcome.NOT_REFRESHABLE
    assert outcome_of(e.SSOUnavailable("x")) is Outcome.UNAVAILABLE
    assert outcome_of(e.RedisUnavailable("x")) is Outcome.UNAVAILABLE
    assert outcome_of(e.JWTValidationError("x")) is Outcome.FAILED
    assert outcome_of(e.SSOError("x")) is Outcome.FAILED
    assert outcome_of(e.EsiConfigurationError("x")) is Outcome.FAILED
    assert outcome_of(e.EsiServerError(500)) is None  # not a token's trouble: raised
    assert {o.value for o in Outcome if o.failed} == token_refresh.FAILED_OUTCOMES


def test_two_sql_statements_per_token(sso, make_token) -> None:
    tokens = _lapsing(make_token, 12, sso)
    ids = [t.pk for t in tokens]
    with CaptureQueriesContext(connection) as queries:
        counts = token_refresh.refresh_lane(ids)
    assert counts == {"refreshed": 12}
    assert len(queries) == 1 + 2 * len(ids), [q["sql"][:60] for q in queries]  # one load, re-read + UPDATE each
    with CaptureQueriesContext(connection) as queries:
        assert len(list(refresh_many(ids))) == 12
    assert len(queries) <= 1 + 2 * len(ids)


def test_bulk_refresh_costs_two_statements_per_token(sso, make_token) -> None:
    tokens = _lapsing(make_token, 6, sso)
    with CaptureQueriesContext(connection) as queries:
        done = Token.objects.all().bulk_refresh()
    assert len(queries) == 2 + 2 * len(tokens)  # the ids, one load, then re-read + UPDATE each
    assert done.count() == 6


class Killed(BaseException):
    """Stands for the worker process dying mid-lane (nothing after it runs)."""


def test_a_lane_run_again_after_it_was_killed_refreshes_nothing_twice(sso, make_token) -> None:
    tokens = _lapsing(make_token, 6, sso)
    ids = [t.pk for t in tokens]
    sweep = token_refresh.begin_sweep(ids, [ids], source="test")

    def die_after_four(_token_id: int, _outcome: str, seen: list[int] = []) -> None:
        seen.append(1)
        if len(seen) == 4:
            raise Killed

    with pytest.raises(Killed):
        token_refresh.refresh_lane(ids, die_after_four, sweep=sweep)
    assert refreshes(sso) == 4
    counts = token_refresh.refresh_lane(ids, sweep=sweep)  # the broker hands the message back
    assert counts == {"fresh": 4, "refreshed": 2}
    assert refreshes(sso) == 6  # each token once
    progress = token_refresh.sweep_progress(sweep["id"])
    assert progress is not None and progress.counts == {"fresh": 4, "refreshed": 6}


def test_a_token_refreshed_meanwhile_by_someone_else_is_not_sent_again(sso, make_token) -> None:
    tokens = _lapsing(make_token, 2, sso)
    sweep = token_refresh.begin_sweep([t.pk for t in tokens], [[t.pk for t in tokens]], source="test")
    Token.objects.get(pk=tokens[0].pk).refresh()  # e.g. a fetch, after the sweep began
    assert refreshes(sso) == 1
    assert token_refresh.refresh_lane([t.pk for t in tokens], sweep=sweep) == {"fresh": 1, "refreshed": 1}
    assert refreshes(sso) == 2


def test_deleted_tokens_are_missing(sso, make_token) -> None:
    (token,) = _lapsing(make_token, 1, sso)
    assert token_refresh.refresh_lane([token.pk, 987654]) == {"refreshed": 1, "missing": 1}

"""``manage.py esi_status``: ESI's status, the shared budgets this application has left, and the
progress of the latest token sweep (:mod:`esi.tokens`' record, written by ``esi_tasks``)."""

from __future__ import annotations

import json
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi.client import get_client
from esi.exceptions import EsiError, RedisUnavailable
from esi.management.errors import one_line_errors, redis_message
from esi.tokens import SweepProgress, sweep_progress


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _sweep_line(progress: SweepProgress | None, problem: str | None) -> str:
    """The latest token sweep in words: ``4210/10000 tokens, 12 failed, 95.1 tokens/s, ETA 61 s``."""
    if problem is not None:
        return f"Token sweep: unknown ({problem})"
    if progress is None:
        return "Token sweep: none recorded in the last hour"
    p = progress
    state = "finished" if p.finished else "running"
    rate = "" if p.rate is None else f", {p.rate:.1f} tokens/s"
    eta = "" if p.finished or p.eta is None else f", ETA {p.eta:.0f} s"
    counts = " ".join(f"{k}={v}" for k, v in sorted(p.counts.items()))
    return (
        f"Token sweep {p.sweep_id} ({p.source}, started {p.started:%Y-%m-%d %H:%M:%S} UTC): {state}, "
        f"{p.done}/{p.total} tokens, {p.failed} failed{rate}{eta}, lanes {p.lanes_done}/{p.lanes}"
        + (f"  [{counts}]" if counts else "")
    )


def _error_window(e: dict[str, Any]) -> str:
    """What is known of ESI's error window, in words.

    Only answers of routes without a rate-limit group carry ``X-ESI-Error-Limit-*``; until one
    arrives in the current window nothing is known, and the line says so."""
    if e["remain"] is None:
        return "not reported by ESI in the current window (routes without a rate-limit group report it)"
    limit = f" of {e['limit']}" if e.get("limit") else ""
    resets = "" if e["reset_in"] is None else f", window resets in {e['reset_in']:.1f} s"
    return f"{e['remain']}{limit} errors left{resets}"


class Command(BaseCommand):
    help = "Show ESI's status (GET /status) and the rate-limit and error-limit budgets shared in Redis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
        parser.add_argument("--no-request", action="store_true", help="only show the budgets; send nothing to ESI")

    def handle(self, *args: Any, **options: Any) -> None:
        with one_line_errors():
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        client = get_client()
        status: dict[str, Any] | None = None
        problem: str | None = None
        if not options["no_request"]:
            try:
                status = client.call("GetStatus").data
            except EsiError as exc:  # the budgets are worth showing all the more
                problem = f"{type(exc).__name__}: {exc}"
        try:
            budgets = client.limits.snapshot()
        except RedisUnavailable as exc:
            raise CommandError(f"The shared budgets cannot be read: {exc}") from exc
        except redis.RedisError as exc:
            raise CommandError(f"The shared budgets cannot be read: {redis_message(exc)}") from exc
        sweep, sweep_problem = None, None
        try:
            sweep = sweep_progress()
        except RedisUnavailable as exc:
            sweep_problem = str(exc)
        if options["json"]:
            document = {
                "status": status,
                "error": problem,
                "limits": budgets,
                "token_sweep": sweep.as_dict() if sweep else None,
            }
            self.stdout.write(json.dumps(document, indent=2))
        else:
            self._text(status, problem, budgets)
            self.stdout.write(_sweep_line(sweep, sweep_problem))
        if problem is not None:
            raise CommandError(f"ESI's status could not be read: {problem}")

    def _text(self, status: dict[str, Any] | None, problem: str | None, budgets: dict[str, Any]) -> None:
        out = self.stdout.write
        if status is not None:
            vip = " (VIP mode)" if status.get("vip") else ""
            out(
                f"ESI: {status.get('players')} players online, server {status.get('server_version')}, "
                f"up since {status.get('start_time')}{vip}"
            )
        elif problem is None:
            out("ESI: not asked (--no-request)")
        if not budgets.get("enabled"):
            out("Shared limits: off (ESI_RATE_LIMITING = False)")
            return
        e = budgets["error_limit"]
        out(f"Error limit: {_error_window(e)}, {e['in_flight']} in flight, threshold {e['threshold']}")
        if e["paused"]:
            out(self.style.WARNING(f"  PAUSED ({e['reason']}) for {e['paused_for']:.1f} s: nothing is sent to ESI"))
        d = budgets["downtime"]
        if d["start"] is None:
            out("Daily downtime: not configured")
        else:
            state = f"NOW, ends in {d['ends_in']:.0f} s" if d["active"] else "not now"
            out(f"Daily downtime: {d['start']} UTC for {d['duration']} s ({state})")
        groups = budgets["groups"]
        if not groups:
            out("Rate-limit groups: none used recently")
            return
        out("Rate-limit groups:")
        width = max(len(f"{g['group']}/{g['identity']}") for g in groups)
        for g in groups:
            name = f"{g['group']}/{g['identity']}".ljust(width)
            window = "-" if g["window"] is None else f"{g['window']:.0f} s"
            line = (
                f"  {name}  {g['remaining']}/{g['max_tokens']} tokens left per {window}, "
                f"next back in {_secs(g['next_token_in'])}, all back in {_secs(g['full_in'])}"
            )
            if g["paused_for"]:
                line += self.style.WARNING(f"  PAUSED for {g['paused_for']:.1f} s (429)")
            out(line)

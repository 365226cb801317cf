"""The operations dashboard (``docs/operating.md``): what ESI fetching is doing, for staff.

- :mod:`esi.dashboard.counters`: per-minute outcome counts, recent calls and failures, recorded
  by the client in memory and carried to Redis by round trips the hot path makes anyway;
- :mod:`esi.dashboard.panels`: the panel registry (``esi_tasks`` adds its panels in ``ready()``);
- :mod:`esi.dashboard.views`: the page, its JSON feed and ``/metrics`` (Prometheus text).

Nothing here imports models at import time: the client imports :mod:`.counters`.
"""

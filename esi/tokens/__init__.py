"""Stored tokens: refresh, login storage and the progress of token sweeps.

Importing this package does not touch the models, so it is safe before Django's apps are ready.
"""

from esi.tokens._progress import PROGRESS_TTL, SweepProgress, SweepRecorder, sweep_progress

__all__ = ["PROGRESS_TTL", "SweepProgress", "SweepRecorder", "sweep_progress"]

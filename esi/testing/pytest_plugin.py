"""pytest plugin of esi.testing: one simulator per test session, reset before every test.

``esi_simulator`` (session) starts ``python -m esi.testing`` on a free loopback port in its own
process. ``esi_sim`` (function) resets it and, when Django is configured, points
``ESI_API_URL``/``ESI_SSO_BASE_URL`` at it for the test (through pytest-django's ``settings``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from esi.testing._control import SimulatorControl
from esi.testing._server import SimulatorHandle, start_simulator

__all__ = ["esi_sim", "esi_simulator"]


@pytest.fixture(scope="session")
def esi_simulator() -> Iterator[SimulatorHandle]:
    """The session's simulator process (``.url``, ``.control``, ``.stop()``)."""
    handle = start_simulator()
    try:
        yield handle
    finally:
        handle.stop()


def _django_settings(request: pytest.FixtureRequest) -> Any:
    try:
        from django.conf import settings as django_settings

        if not django_settings.configured:
            return None
    except ImportError:
        return None
    try:
        return request.getfixturevalue("settings")
    except pytest.FixtureLookupError:
        return None


@pytest.fixture
def esi_sim(esi_simulator: SimulatorHandle, request: pytest.FixtureRequest) -> Iterator[SimulatorControl]:
    """A reset simulator for this test; Django settings point at it while the test runs."""
    settings = _django_settings(request)
    client_id = getattr(settings, "ESI_SSO_CLIENT_ID", None) or None if settings is not None else None
    control = SimulatorControl(esi_simulator.url, client_id=client_id)
    control.reset()
    if settings is not None:
        settings.ESI_API_URL = esi_simulator.url + "/"
        settings.ESI_SSO_BASE_URL = esi_simulator.url
    try:
        yield control
    finally:
        control.close()

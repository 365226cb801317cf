"""esi.testing: an ESI + EVE SSO simulator over real HTTP, and a pytest plugin.

One server process serves both ESI (``{url}/status``, ``{url}/characters/{id}/assets``...) and
EVE SSO v2 (``{url}/v2/oauth/authorize``, ``/v2/oauth/token``, ``/v2/oauth/revoke``,
``/oauth/jwks``, ``/.well-known/oauth-authorization-server``; issuer ``{url}``). Point a project
at it with ``ESI_API_URL = url + "/"`` and ``ESI_SSO_BASE_URL = url``.

Python API::

    from esi.testing import start_simulator

    with start_simulator() as sim:              # child process on a free loopback port
        sim.url                                  # "http://127.0.0.1:PORT"
        control = sim.control                    # a SimulatorControl
        tokens = control.issue_tokens(90000001, ["esi-assets.read_assets.v1"])
        control.configure_route("GetCharactersCharacterIdAssets", pages=3, error_rate=0.2)
        control.stats()["by_route"]

``SimulatorControl(url, client_id=None)`` methods: ``reset()``, ``add_character(character_id,
name=None, owner_hash=None, corporation_id=None)``, ``set_login(character_id, scopes=None)``,
``set_client(client_id, secret=None, redirect_uri=None)``, ``set_roles(character_id, roles)``,
``issue_tokens(character_id, scopes, expires_in=1199, client_id=None)``,
``accept_refresh_token(refresh_token, character_id, scopes)``,
``revoke_refresh_token(refresh_token)``, ``change_owner(character_id)``,
``rotate_signing_key(alg="RS256", keep_old=True)``, ``configure_route(route, **options)``,
``set_error_limit(limit=100, window=60)``, ``set_downtime(seconds)``, ``stats()``,
``request_log(route=None)``.

Default characters after every reset: 90000001 "Harness Pilot One" (owner hash
``owner-hash-one``) and 90000002 "Harness Pilot Two" in corporation 98000001, 90000003
"Harness Pilot Three" in 98000002; they hold every corporation role. The SSO
accepts any client id and secret until :meth:`SimulatorControl.set_client` registers one.

pytest (plugin registered by the ``pytest11`` entry point): ``esi_simulator`` (session: the
running :class:`SimulatorHandle`) and ``esi_sim`` (per test: a reset :class:`SimulatorControl`
with Django's ``ESI_API_URL``/``ESI_SSO_BASE_URL`` pointed at it). Standalone:
``python -m esi.testing --port 8765``. See ``docs/testing.md``.
"""

from esi.testing._control import SimulatorControl, SimulatorControlError
from esi.testing._server import SimulatorHandle, start_simulator
from esi.testing._sso import DEFAULT_CHARACTERS

__all__ = ["DEFAULT_CHARACTERS", "SimulatorControl", "SimulatorControlError", "SimulatorHandle", "start_simulator"]

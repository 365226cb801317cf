"""An Alliance Auth 5.5 site on this django-esi, against the simulator (``esi.testing``).

Run in the virtualenv that ``run`` builds (everything Alliance Auth installs, httpx2 included),
from the unpacked Alliance Auth tree, with Alliance Auth's test settings. Each check prints one
line; the last line says how many passed and failed (exit status 1 on a failure).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_all")
_db = os.path.join(tempfile.mkdtemp(prefix="aa-smoke-"), "site.sqlite3")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

checks: list[tuple[str, Callable[[], str]]] = []


def check(func: Callable[[], str]) -> Callable[[], str]:
    checks.append((func.__name__, func))
    return func


def main() -> int:
    from esi.testing import start_simulator

    settings.DATABASES["default"]["NAME"] = _db
    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0, interactive=False)
    with start_simulator() as sim, override_settings(ESI_API_URL=sim.url + "/", ESI_SSO_BASE_URL=sim.url):
        global control
        control = sim.control
        failed = 0
        for name, func in checks:
            try:
                print(f"ok    {name}: {func()}")
            except Exception:
                failed += 1
                print(f"FAIL  {name}:\n{traceback.format_exc()}")
    print(f"smoke: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


control = None  # the simulator's SimulatorControl, set in main()


def _token(character_id: int = 90000001, expired: bool = True):
    """A stored token of a character Alliance Auth already knows.

    A new token makes Alliance Auth create the character from ESI, and the simulator's made-up
    corporation and faction ids do not refer to each other; so the character row comes first.
    """
    from allianceauth.eveonline.models import EveCharacter
    from django.utils import timezone

    EveCharacter.objects.get_or_create(
        character_id=character_id,
        defaults={"character_name": f"Harness Pilot {character_id}", "corporation_id": 98000001},
    )

    from esi.models import Token
    from esi.sso import TokenResponse, verify_access_token
    from esi.tokens import store_login

    issued = control.issue_tokens(character_id, ["publicData"], client_id=settings.ESI_SSO_CLIENT_ID)
    response = TokenResponse.from_authlib(issued)
    token, _ = store_login(response, verify_access_token(response.access_token))
    if expired:
        Token.objects.filter(pk=token.pk).update(access_token_expires=timezone.now() - dt.timedelta(minutes=1))
        token.refresh_from_db()
    return token


@check
def authlib_builds_on_httpx2() -> str:
    import httpx2
    from authlib.integrations.httpx_client import OAuth2Client

    assert issubclass(OAuth2Client, httpx2.Client), "authlib did not pick httpx2: nothing to show"
    return f"httpx2 {httpx2.__version__} installed; authlib's OAuth2Client is an httpx2.Client"


@check
def token_refresh() -> str:
    before = control.stats()["sso"].get("token_refresh_token", 0)
    token = _token()
    old = token.access_token
    access = token.valid_access_token()
    assert access != old and access.count(".") == 2
    assert control.stats()["sso"]["token_refresh_token"] == before + 1
    return "an expired token was refreshed at SSO (one POST to /v2/oauth/token)"


@check
def ownership_check_of_alliance_auth() -> str:
    from allianceauth.authentication.tasks import check_character_ownership

    from esi.models import Token

    token = _token(90000002, expired=False)
    owner = token.character_owner_hash
    check_character_ownership.apply(args=[owner]).get()
    assert Token.objects.filter(character_owner_hash=owner).exists(), "the token of an unchanged owner was removed"
    control.change_owner(90000002)
    check_character_ownership.apply(args=[owner]).get()
    assert not Token.objects.filter(character_owner_hash=owner).exists(), "a moved character kept its tokens"
    return "owner kept while unchanged; tokens removed once SSO moved the character"


@check
def esi_call_through_alliance_auths_provider() -> str:
    from allianceauth.eveonline.providers import EveOpenAPIProvider

    character, response = EveOpenAPIProvider().get_character(90000001, force_refresh=True)
    assert character.name == "Harness Pilot One", character
    sent = control.request_log()[-1]["headers"]
    assert sent["x-compatibility-date"] == "2026-05-19"
    assert sent["user-agent"].startswith("AllianceAuth/"), sent["user-agent"]
    return f"GetCharactersCharacterId -> {response.status_code}, date 2026-05-19, {sent['user-agent']}"


@check
def esi_4xx_is_caught_by_alliance_auths_except() -> str:
    from aiopenapi3.errors import HTTPError
    from allianceauth.eveonline.providers import EveOpenAPIProvider

    control.configure_route("GetCorporationsCorporationId", status=404)
    try:
        EveOpenAPIProvider().get_corporation(98000002, force_refresh=True)
    except HTTPError as exc:  # allianceauth.eveonline.tasks catches exactly this
        return f"aiopenapi3's HTTPError caught {type(exc).__name__} {exc.status_code}"
    raise AssertionError("no error raised")


if __name__ == "__main__":
    sys.exit(main())

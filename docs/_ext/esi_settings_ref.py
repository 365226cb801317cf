"""Generate ``docs/settings.md`` from :data:`esi.app_settings.SETTINGS`, so the reference can't drift.

As a Sphinx extension it rewrites the page (only when it changed) before every build. As a
script it does the same for people who read the Markdown on the forge::

    python docs/_ext/esi_settings_ref.py           # rewrite docs/settings.md
    python docs/_ext/esi_settings_ref.py --check   # exit 1 if docs/settings.md is stale

``tests/foundation/test_docs.py`` fails when the committed page differs from :func:`render`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
PAGE = DOCS / "settings.md"

if str(DOCS.parent) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(DOCS.parent))

from esi.app_settings import SETTINGS, Setting  # noqa: E402

GROUPS = (
    (
        "required",
        "Required settings",
        "Set these for EVE SSO login and token refresh to work. They may stay empty while `DEBUG` "
        "is `True`: `manage.py check` then only warns (`esi.W001`-`esi.W003`) instead of failing "
        "(`esi.E001`-`esi.E003`).",
    ),
    (
        "optional",
        "Optional settings",
        "The operations guide's optional settings. Each uses the default shown unless you set it.",
    ),
    (
        "extra",
        "Additional settings",
        "Settings added by this version of django-esi. The defaults suit production against "
        "CCP's servers; tests and the example project point the URLs at the simulator.",
    ),
)


def _types(setting: Setting) -> str:
    names = [t.__name__ for t in setting.types]
    if setting.nullable:
        names.append("None")
    return " or ".join(f"`{n}`" for n in names)


def _default(value: Any) -> str:
    return f"`{value!r}`"


def render() -> str:
    """The whole settings page as MyST Markdown."""
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated from esi.app_settings.SETTINGS by docs/_ext/esi_settings_ref.py. Do not edit: -->",
        "<!-- change the setting's definition and run `python docs/_ext/esi_settings_ref.py`. -->",
        "",
        "Every `ESI_*` setting django-esi reads, with its default. Set them in your Django settings "
        "module. They are read when used, so `override_settings` in tests and changed settings take "
        'effect at once. A number may be given as a string (`"5"`, as read from an environment '
        "variable). Values are validated when the app loads, in every process (web, workers, beat): "
        "a wrong type, range, URL or format stops it with `ImproperlyConfigured` naming the setting, "
        "the value and the accepted form; `python manage.py check` reports the same problems.",
        "",
        "```python",
        "from esi.app_settings import esi_settings",
        "",
        "esi_settings.ESI_REQUESTS_READ_TIMEOUT  # your value, or the default",
        "```",
        "",
    ]
    for group, title, intro in GROUPS:
        members = [s for s in SETTINGS if s.group == group]
        if not members:
            continue
        lines += [f"## {title}", "", intro, ""]
        for setting in members:
            lines += [
                f"(setting-{setting.name.lower()})=",
                f"### `{setting.name}`",
                "",
                setting.doc,
                "",
                f"- Default: {_default(setting.default)}",
                f"- Type: {_types(setting)}",
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(page: Path = PAGE) -> bool:
    """Rewrite ``page`` if its text differs from :func:`render`; return whether it changed."""
    text = render()
    if page.exists() and page.read_text(encoding="utf-8") == text:
        return False
    page.write_text(text, encoding="utf-8")
    return True


def _builder_inited(app: Any) -> None:
    write(Path(app.srcdir) / "settings.md")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != render():
            print(f"{PAGE} is out of date; run: python docs/_ext/esi_settings_ref.py", file=sys.stderr)
            return 1
        return 0
    print(f"{PAGE}: {'rewritten' if write() else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

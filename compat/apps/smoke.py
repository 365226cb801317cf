"""Smoke test: import every module of the Alliance Auth apps that imports ``esi``.

Run inside a virtualenv holding Alliance Auth, the apps and a django-esi, with Django
configured (``DJANGO_SETTINGS_MODULE``, see ``ci_settings.py``). Prints one line per module and
exits non-zero when one fails to import. ``NOT_IMPORTED`` lists files that cannot be imported
on any site of this kind, django-esi 10.0.0's included: programs (importing one runs it) and a
plug-in of another app; they are named in the output with the reason.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path

import django

PACKAGES = ("app_utils", "eveuniverse", "memberaudit", "structures", "moonmining", "corptools")

_IMPORTS_ESI = re.compile(r"^\s*(from\s+esi(\.\w+)*\s+import\b|import\s+esi\b)", re.MULTILINE)

NOT_IMPORTED = {
    # aa-structures' load-test data generators set up a "myauth" project of their own at import
    # time (and need django-esi < 8's ``esi.clients``, absent from 10.0.0 too).
    "structures.tests.testdata.generate_structures": "a load-test script for a 'myauth' project",
    "structures.tests.testdata.generate_notifications": "a load-test script for a 'myauth' project",
    # loaded by the Discord bot aa-discordbot (not installed here), which it imports
    "corptools.cogs.locate": "a cog of aa-discordbot, which is not installed",
}


def esi_importers(package: str) -> list[str]:
    """Dotted names of the modules of ``package`` whose source imports ``esi``."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed in this virtualenv; install the apps first.")
    root = Path(spec.origin).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        if _IMPORTS_ESI.search(path.read_text(encoding="utf-8", errors="replace")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(PACKAGES))
    parser.add_argument("-v", "--verbose", action="store_true", help="print the traceback of each failure")
    args = parser.parse_args()
    django.setup()
    passed, failed = 0, 0
    for package in args.packages:
        for name in esi_importers(package):
            if name in NOT_IMPORTED:
                print(f"not imported {name}: {NOT_IMPORTED[name]}")
                continue
            try:
                importlib.import_module(name)
            except (Exception, SystemExit) as exc:  # every failure is reported, none stops the run
                failed += 1
                print(f"FAIL {name}: {type(exc).__name__}: {exc}")
                if args.verbose:
                    traceback.print_exc()
            else:
                passed += 1
                print(f"ok   {name}")
    print(f"smoke imports of modules that import esi: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

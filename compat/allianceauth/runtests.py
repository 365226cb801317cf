#!/usr/bin/env python
"""Run Alliance Auth's test suite as upstream does: ``runtests.py allianceauth -v 2``.

The sdist of allianceauth ships its apps' tests but not this root file nor ``tests/``; these
are written for our harness after upstream's layout (settings module ``tests.settings_all``).
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_all")
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "test", *sys.argv[1:]])

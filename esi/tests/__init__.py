"""Test helpers for projects built on django-esi; django-esi's own tests live in ``tests/``."""

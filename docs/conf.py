"""Sphinx configuration of the django-esi docs (MyST Markdown, built with warnings as errors)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

import django  # noqa: E402
from django.conf import settings as django_settings  # noqa: E402

import esi  # noqa: E402

# The API reference imports models: a minimal Django configuration is enough for autodoc.
if not django_settings.configured:
    django_settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_celery_beat", "esi", "esi_tasks"],
        USE_TZ=True,
    )
    django.setup()

project = "django-esi"
author = "django-esi contributors"
copyright = "django-esi contributors"
release = esi.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "esi_settings_ref",  # writes settings.md from esi.app_settings.SETTINGS
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
html_title = f"django-esi {release}"

"""django-esi 10's ``0008_nullable_refresh_token``, kept by name: nothing to do here.

``0001_initial`` already creates django-esi 10's final schema. The name stays in the graph
because databases migrated by django-esi 10 record it and apps' migrations depend on it
(Alliance Auth's on ``0002_scopes_20161208`` and ``0012_fix_token_type_choices``).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("esi", "0007_fix_mysql_8_migration"),
    ]

    operations = []

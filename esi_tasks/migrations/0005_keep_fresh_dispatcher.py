"""Install the ``esi: keep-fresh dispatcher`` beat entry (it restarts the dispatcher's ticks).

Only that entry: default entries a site deleted stay deleted.
"""

from typing import Any

from django.db import migrations


def install(apps: Any, schema_editor: Any) -> None:
    from esi_tasks.scheduling import install_default_schedules

    install_default_schedules(
        apps.get_model("django_celery_beat", "PeriodicTask"),
        apps.get_model("django_celery_beat", "IntervalSchedule"),
        names=["esi: keep-fresh dispatcher"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("esi_tasks", "0004_endpointschedule_compatibility_date"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]

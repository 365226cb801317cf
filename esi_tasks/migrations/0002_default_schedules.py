"""Install the default beat entries (the token sweep); editable in the admin afterwards.

``manage.py esi_setup_schedules [--reset]`` does the same at any time.
"""

from typing import Any

from django.db import migrations


def install(apps: Any, schema_editor: Any) -> None:
    from esi_tasks.scheduling import install_default_schedules

    install_default_schedules(
        apps.get_model("django_celery_beat", "PeriodicTask"), apps.get_model("django_celery_beat", "IntervalSchedule")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("esi_tasks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]

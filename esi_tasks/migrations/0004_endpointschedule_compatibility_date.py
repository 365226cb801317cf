"""Schedules keep the compatibility date they were made for; existing ones get the project's."""

from typing import Any

from django.db import migrations, models


def _stamp_existing(apps: Any, schema_editor: Any) -> None:
    from esi._dates import default_date

    schedule = apps.get_model("esi_tasks", "EndpointSchedule")
    schedule.objects.filter(compatibility_date="").update(compatibility_date=default_date())


class Migration(migrations.Migration):
    dependencies = [
        ("esi_tasks", "0003_endpointschedule_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="endpointschedule",
            name="compatibility_date",
            field=models.CharField(
                blank=True,
                default="",
                help_text="ESI compatibility date (YYYY-MM-DD) the schedule was made for: its operation and "
                "parameters are those of that date's view, and every fetch sends it. Empty: ESI_COMPATIBILITY_DATE "
                "when saved.",
                max_length=10,
            ),
        ),
        migrations.RunPython(_stamp_existing, migrations.RunPython.noop),
    ]

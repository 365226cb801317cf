"""The permissions of the write policy (see ``esi_tasks.permissions``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("esi_tasks", "0002_default_schedules"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="endpointschedule",
            options={
                "ordering": ("name",),
                "permissions": (
                    ("schedule_write_operations", "Can schedule ESI operations that change game state"),
                    ("use_any_token", "Can schedule ESI fetches with any user's token"),
                ),
                "verbose_name": "ESI endpoint schedule",
            },
        ),
    ]

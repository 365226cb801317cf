"""django-esi 11: access-token expiry, an ``updated`` stamp and indexes for the managers.

Existing tokens get ``access_token_expires = NULL`` (unknown): they are refreshed on first use.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("esi", "0013_squashed_0012_fix_token_type_choices"),
    ]

    operations = [
        migrations.AlterModelOptions(name="scope", options={"ordering": ("name",)}),
        migrations.AddField(
            model_name="token",
            name="access_token_expires",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When the access token expires; empty means unknown (refreshed on first use).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="token",
            name="updated",
            field=models.DateTimeField(
                auto_now=True,
                default=django.utils.timezone.now,
                help_text="When this row last changed (login or refresh).",
            ),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="token",
            index=models.Index(fields=["character_id", "character_owner_hash"], name="esi_token_char_owner_idx"),
        ),
        migrations.AddIndex(
            model_name="token",
            index=models.Index(fields=["access_token_expires"], name="esi_token_expires_idx"),
        ),
    ]

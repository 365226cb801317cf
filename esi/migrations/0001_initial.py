"""The schema of django-esi 10 after its ``0013_squashed_0012_fix_token_type_choices``.

A database migrated by django-esi 10 already records ``esi.0001_initial`` … ``esi.0013_...``, so
these are not run there and its tables are used as they are. On a new database this one creates
that final schema at once; ``0002_scopes_20161208`` … ``0013_...`` keep django-esi 10's names
(apps' migrations depend on them) and do nothing. Our own migrations start at ``0014``.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Scope",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(help_text="The official EVE name for the scope.", max_length=100, unique=True),
                ),
                ("help_text", models.TextField(help_text="The official EVE description of the scope.")),
            ],
        ),
        migrations.CreateModel(
            name="Token",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "access_token",
                    models.TextField(editable=False, help_text="The access token granted by SSO."),
                ),
                (
                    "refresh_token",
                    models.TextField(
                        blank=True,
                        editable=False,
                        help_text="A re-usable token to generate new access tokens upon expiry.",
                        null=True,
                    ),
                ),
                (
                    "character_id",
                    models.IntegerField(
                        db_index=True, help_text="The ID of the EVE character who authenticated by SSO."
                    ),
                ),
                (
                    "character_name",
                    models.CharField(
                        db_index=True,
                        help_text="The name of the EVE character who authenticated by SSO.",
                        max_length=100,
                    ),
                ),
                (
                    "token_type",
                    models.CharField(
                        choices=[("character", "Character"), ("corporation", "Corporation")],
                        default="character",
                        help_text="The applicable range of the token.",
                        max_length=100,
                    ),
                ),
                (
                    "character_owner_hash",
                    models.CharField(
                        db_index=True,
                        help_text="The unique string identifying this character and its owning EVE account. "
                        "Changes if the character is transferred to another account.",
                        max_length=254,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        help_text="The user to whom this token belongs.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("sso_version", models.IntegerField(default=2, help_text="EVE SSO version that issued this token.")),
                (
                    "scopes",
                    models.ManyToManyField(
                        blank=True, help_text="The access scopes granted by this token.", to="esi.scope"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="CallbackRedirect",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.TextField(help_text="The URL to return to after the login.")),
                ("session_key", models.CharField(max_length=254, unique=True)),
                ("state", models.CharField(max_length=128)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "token",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, to="esi.token"
                    ),
                ),
            ],
        ),
    ]

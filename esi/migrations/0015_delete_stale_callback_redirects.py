"""Logins that were in flight during the upgrade cannot finish (no PKCE verifier): forget them.

They are only seconds-long browser round trips; the user simply logs in again. This also makes
``state`` safe to declare unique in the next migration.
"""

from django.db import migrations


def delete_callback_redirects(apps, schema_editor):
    apps.get_model("esi", "CallbackRedirect").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("esi", "0014_token_expiry_and_updated"),
    ]

    operations = [
        migrations.RunPython(delete_callback_redirects, migrations.RunPython.noop, elidable=True),
    ]

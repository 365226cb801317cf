"""django-esi 11 logins: PKCE verifier, requested scopes, completion stamp; one row per state.

django-esi 10 allowed one login in flight per session (``session_key`` unique); now each login
is keyed by its ``state``, so two tabs can log in at once.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("esi", "0015_delete_stale_callback_redirects"),
    ]

    operations = [
        migrations.AlterField(
            model_name="callbackredirect",
            name="session_key",
            field=models.CharField(db_index=True, help_text="Session of the browser that logs in.", max_length=254),
        ),
        migrations.AlterField(
            model_name="callbackredirect",
            name="state",
            field=models.CharField(help_text="OAuth2 state of this login.", max_length=128, unique=True),
        ),
        migrations.AddField(
            model_name="callbackredirect",
            name="code_verifier",
            field=models.CharField(blank=True, default="", help_text="PKCE code verifier (secret).", max_length=128),
        ),
        migrations.AddField(
            model_name="callbackredirect",
            name="requested_scopes",
            field=models.TextField(blank=True, default="", help_text="Scopes asked for, space separated."),
        ),
        migrations.AddField(
            model_name="callbackredirect",
            name="completed",
            field=models.DateTimeField(blank=True, help_text="When SSO called back for this login.", null=True),
        ),
    ]

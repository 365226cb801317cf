"""The dashboard's permission ``esi.view_dashboard`` (an unmanaged model: no table)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('esi', '0017_token_refresh_token_encrypted'),
    ]

    operations = [
        migrations.CreateModel(
            name='Dashboard',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
            ],
            options={
                'verbose_name': 'dashboard',
                'verbose_name_plural': 'dashboard',
                'managed': False,
                'default_permissions': ('view',),
            },
        ),
    ]

from django.apps import AppConfig


class EsiConfig(AppConfig):
    name = "esi"
    label = "esi"
    verbose_name = "EVE Online SSO and ESI"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from esi import checks  # noqa: F401  (registers the system checks)

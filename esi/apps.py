from django.apps import AppConfig


class EsiConfig(AppConfig):
    name = "esi"
    label = "esi"
    verbose_name = "EVE Online SSO and ESI"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from esi import checks  # registers the system checks
        from esi.dashboard import builtin

        builtin.register_builtin()  # the dashboard's own panels (esi_tasks adds its in its ready())

        # Workers and WSGI servers never run system checks: refuse wrong values at start-up.
        checks.validate_settings()

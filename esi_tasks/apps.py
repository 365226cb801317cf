from django.apps import AppConfig


class EsiTasksConfig(AppConfig):
    name = "esi_tasks"
    label = "esi_tasks"
    verbose_name = "ESI tasks"
    default_auto_field = "django.db.models.BigAutoField"

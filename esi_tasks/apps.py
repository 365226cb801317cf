from django.apps import AppConfig


class EsiTasksConfig(AppConfig):
    name = "esi_tasks"
    label = "esi_tasks"
    verbose_name = "ESI tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from esi_tasks import checks, scheduling  # noqa: F401  (checks registers the system checks)
        from esi_tasks.models import EndpointSchedule

        post_delete.connect(
            scheduling.on_schedule_deleted, sender=EndpointSchedule, dispatch_uid="esi_tasks.schedule_deleted"
        )
        from celery import current_app

        # fetch_task connects the claim-dropping Celery signals; tasks: every process (web too)
        # knows the tasks by name, so the keep-fresh dispatcher can send them
        from esi_tasks import fetch_task, tasks  # noqa: F401
        from esi_tasks.queues import apply_reliability_defaults

        apply_reliability_defaults(current_app)  # settings under which no ESI task is lost

        from esi_tasks import dashboard

        dashboard.register_panels()  # queues, workers, chains and sweeps on the esi dashboard

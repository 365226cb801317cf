"""esi_tasks: ESI requests as Celery tasks, token refresh schedules and admin-scheduled fetches."""

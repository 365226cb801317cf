"""The dashboard's permission, ``esi.view_dashboard``, on a model without a table.

An unmanaged model gives the permission its usual home (Django creates it after ``migrate``,
groups and users get it in the admin) and puts a "Dashboard" entry under the ``esi`` app of
the admin index, shown only to users who hold it (:mod:`esi.dashboard.admin`).
"""

from __future__ import annotations

from django.db import models

__all__ = ["Dashboard"]


class Dashboard(models.Model):
    """No rows, no table: only the ``view`` permission (``esi.view_dashboard``)."""

    class Meta:
        app_label = "esi"
        managed = False
        default_permissions = ("view",)
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"

"""URLs of the esi app; include them under ``sso/`` with namespace ``esi``::

    path("sso/", include("esi.urls", namespace="esi")),

The callback answers with and without a trailing slash, so the callback URL registered at EVE
(``https://example.com/sso/callback``, as the operations guide says) works as it is.

``dashboard/`` is the operations dashboard (staff with ``esi.view_dashboard``; also in the
admin) and ``metrics`` the Prometheus text (``ESI_METRICS_TOKEN``/``ESI_METRICS_ALLOWED_IPS``):
see ``docs/operating.md``.
"""

from django.urls import path

from esi import views
from esi.dashboard import metrics
from esi.dashboard import views as dashboard

app_name = "esi"

urlpatterns = [
    path("login/", views.sso_login, name="login"),
    path("callback/", views.receive_callback, name="callback"),
    path("callback", views.receive_callback),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/data/", dashboard.dashboard_data, name="dashboard-data"),
    path("metrics", metrics.metrics, name="metrics"),
]

"""URLs of the esi app; include them under ``sso/`` with namespace ``esi``."""

from django.urls import URLPattern

app_name = "esi"

urlpatterns: list[URLPattern] = []

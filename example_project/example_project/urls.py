"""URLs of the example project: the dashboard, the admin and django-esi's SSO views."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("sso/", include("esi.urls", namespace="esi")),
]

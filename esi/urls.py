"""URLs of the esi app; include them under ``sso/`` with namespace ``esi``::

    path("sso/", include("esi.urls", namespace="esi")),

The callback answers with and without a trailing slash, so the callback URL registered at EVE
(``https://example.com/sso/callback``, as the operations guide says) works as it is.
"""

from django.urls import path

from esi import views

app_name = "esi"

urlpatterns = [
    path("login/", views.sso_login, name="login"),
    path("callback/", views.receive_callback, name="callback"),
    path("callback", views.receive_callback),
]

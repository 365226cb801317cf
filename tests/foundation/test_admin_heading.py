"""The admin index names the app for what it is (django-esi 10 said "EVE Swagger Interface")."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_admin_index_heads_the_esi_app_with_its_name(client: Client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    page = client.get("/admin/").content.decode()
    assert "EVE Online SSO and ESI" in page and "Swagger" not in page

"""factory_boy factories for django-esi's models, under django-esi 10's module name.

Apps' test suites import ``TokenFactory`` and ``ScopeFactory`` from here. Needs ``factory_boy``
(a test dependency of those apps, not of django-esi). Tokens are made as SSO would hand them
out: a fresh access token valid for twenty minutes, a refresh token and a character owner hash.
"""

from __future__ import annotations

from typing import Any

import factory
import factory.fuzzy
from django.utils import timezone

from esi.managers import ACCESS_TOKEN_LIFETIME
from esi.models import CallbackRedirect, Scope, Token

__all__ = ["CallbackRedirectFactory", "ScopeFactory", "TokenFactory", "UserFactory"]


class UserFactory(factory.django.DjangoModelFactory):
    """A Django user with a unique username."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user_{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class ScopeFactory(factory.django.DjangoModelFactory):
    """An ESI scope; pass ``name="esi-assets.read_assets.v1"`` for a real one."""

    class Meta:
        model = Scope
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"esi-test.scope_{n}.v1")
    help_text = factory.Faker("sentence")


class TokenFactory(factory.django.DjangoModelFactory):
    """A character's token; ``scopes=[scope, ...]`` adds scopes after it is saved."""

    class Meta:
        model = Token

    access_token = factory.Faker("pystr", min_chars=64, max_chars=64)
    access_token_expires = factory.LazyFunction(lambda: timezone.now() + ACCESS_TOKEN_LIFETIME)
    refresh_token = factory.Faker("pystr", min_chars=24, max_chars=24)
    user = factory.SubFactory(UserFactory)
    character_id = factory.fuzzy.FuzzyInteger(low=90_000_000, high=98_000_000)
    character_name = factory.Faker("name")
    token_type = "character"
    character_owner_hash = factory.Faker("pystr", min_chars=28, max_chars=28)
    sso_version = 2

    @factory.post_generation
    def scopes(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.scopes.add(*extracted)


class CallbackRedirectFactory(factory.django.DjangoModelFactory):
    """A pending SSO login of a browser session."""

    class Meta:
        model = CallbackRedirect

    session_key = factory.Faker("md5")
    url = factory.Faker("uri_path", deep=3)
    state = factory.Faker("sha1")

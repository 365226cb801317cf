"""``{% load scope_tags %}``: ``scope|scope_friendly_name`` ("read assets"), as in django-esi 10.

Kept so that sites which override ``esi/select_token.html`` keep rendering.
"""

from django import template

from esi.models import Scope

register = template.Library()


@register.filter
def scope_friendly_name(name: str) -> str:
    return Scope._friendly_name(str(name))

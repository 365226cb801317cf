"""URLs of the decorator tests: the esi app plus views wearing each decorator."""

from django.http import HttpResponse
from django.urls import include, path

from esi.decorators import single_use_token, token_required, tokens_required
from tests.sso.fixtures import ASSETS


@token_required(scopes=ASSETS)
def one(request, token):
    return HttpResponse(f"token {token.pk} of {token.character_id}")


@token_required(scopes=[ASSETS], new=True)
def one_new(request, token):
    return HttpResponse(f"token {token.pk} of {token.character_id}")


@tokens_required(scopes=ASSETS)
def many(request, tokens):
    return HttpResponse("tokens " + ",".join(str(t.pk) for t in tokens.order_by("pk")))


@tokens_required(scopes=ASSETS, new=True)
def many_new(request, tokens):
    return HttpResponse("tokens " + ",".join(str(t.pk) for t in tokens.order_by("pk")))


@single_use_token(scopes=ASSETS)
def single(request, token):
    return HttpResponse(f"token {token.pk} of {token.character_id}")


urlpatterns = [
    path("sso/", include("esi.urls", namespace="esi")),
    path("one/", one),
    path("one-new/", one_new),
    path("many/", many),
    path("many-new/", many_new),
    path("single/", single),
]

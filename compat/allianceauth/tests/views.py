"""A page for the navhelper tests' URLs."""

from django.http import HttpResponse


def page(request):
    return HttpResponse("page")

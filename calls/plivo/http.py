"""Plivo requests and our answers, the plain HTTP part every webhook module shares: parameters, refusals, XML, our
own URLs (absolute, and the stream's WebSocket URL)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from calls.plivo.signatures import site_base


def plivo_params(request: HttpRequest) -> dict[str, str]:
    source = request.POST if request.method == "POST" else request.GET
    return {key: source.get(key, "") for key in source}


def missing(params: dict[str, str], *names: str) -> HttpResponse | None:
    absent = [n for n in names if not params.get(n)]
    if absent:
        return HttpResponseBadRequest(f"Missing required parameter(s): {', '.join(absent)}", content_type="text/plain")
    return None


def xml(document: str) -> HttpResponse:
    return HttpResponse(document, content_type="application/xml")


def absolute(request: HttpRequest, path: str) -> str:
    return site_base(request) + path


def websocket_url(request: HttpRequest, path: str) -> str:
    base = site_base(request)
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"

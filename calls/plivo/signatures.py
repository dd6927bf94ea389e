"""Plivo request validation (X-Plivo-Signature-V3) against the exact public URL Plivo called."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from plivo.utils import validate_v3_signature

log = logging.getLogger(__name__)


def site_base(request: HttpRequest) -> str:
    """Scheme and host Plivo reaches us on: PUBLIC_URL when set, else this request's (proxy-aware)."""
    return settings.PUBLIC_URL or f"{request.scheme}://{request.get_host()}"


def public_url(request: HttpRequest) -> str:
    """The exact URL Plivo requested (what it signed)."""
    return site_base(request) + request.get_full_path()


def has_valid_signature(request: HttpRequest, auth_token: str) -> bool:
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    if not signature or not nonce:
        return False
    method = request.method.upper()
    params = None if method == "GET" else {k: request.POST.get(k, "") for k in request.POST}
    try:
        return validate_v3_signature(method, public_url(request), nonce, auth_token, signature, params)
    except Exception:  # the SDK's argument validators raise on odd input: treat as invalid
        log.warning("Plivo signature check raised", exc_info=True)
        return False


def plivo_signed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject requests without a valid Plivo signature (when PLIVO_AUTH_TOKEN is set) with 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = settings.PLIVO_AUTH_TOKEN
        if token and not has_valid_signature(request, token):
            log.warning("Rejected %s %s: invalid or missing X-Plivo-Signature-V3", request.method, request.path)
            return HttpResponseForbidden(
                "Invalid or missing X-Plivo-Signature-V3 for this URL.", content_type="text/plain"
            )
        return view(request, *args, **kwargs)

    return wrapper

"""Plivo request validation (X-Plivo-Signature-V3) against the exact public URL Plivo called.

Three checks, in order, all answered with 403 and a log line that names the reason (never the secrets):

1. **Unambiguous parameters.** ``plivo.utils.validate_v3_signature`` signs a string built from the *decoded*
   parameters: the query as ``k=v`` joined with ``&`` (keys sorted), the POST body as ``k + v`` concatenated (keys
   sorted, no separator at all). The signature therefore covers that string, not where one parameter ends and the
   next begins: ``A=xy`` + ``B=z`` and ``A=x`` + ``B=yz`` sign the same string, and so does a query value
   ``x&B=y`` (sent as ``x%26B%3Dy``) against the two parameters ``x`` and ``B=y``. We refuse the shapes Plivo never
   sends and that widen this: a repeated parameter name (our params dict keeps one value, so the other would ride
   along unsigned; the SDK also sorts repeated values, so their order is not signed), and ``&`` or ``=`` inside a
   decoded query key or value (the separators of the signed query string).
2. **A valid signature** for this exact URL and these parameters.
3. **A fresh nonce.** A replay, and any re-split of a body (which must carry the genuine request's signature and
   therefore its nonce), is refused while the nonce is remembered: ``cache.add`` is atomic, so of two identical
   requests racing through several processes (with the Redis cache) exactly one passes. V3 signatures carry no
   timestamp, so the window is ours (``NONCE_WINDOW_SECONDS``); the handlers are idempotent per CallUUID after it.

What remains: a body re-split that reaches us *before* the genuine request (the attacker
must have captured a signed request and delayed the original), and nonces remembered per process when REDIS_URL is
unset. The body's concatenation cannot be made unambiguous locally without refusing genuine requests (caller names
and SIP headers are free text).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, QueryDict
from plivo.utils import validate_v3_signature

log = logging.getLogger(__name__)

NONCE_WINDOW_SECONDS = 24 * 3600  # far longer than Plivo retries a callback (fallback after 60 s)
QUERY_SEPARATORS = ("&", "=")
INVALID_SIGNATURE = "Invalid or missing X-Plivo-Signature-V3 for this URL."
REPLAYED = "Replayed X-Plivo-Signature-V3-Nonce: this signed request was already received."
UNCONFIGURED = "Plivo webhook authentication is not configured on this server."
UNSIGNED_HINT = "set it, or set PLIVO_ALLOW_UNSIGNED_WEBHOOKS=1 to accept unsigned webhooks"
AMBIGUOUS = "Ambiguous parameters (a repeated name, or '&' or '=' inside a query value): Plivo never signs these."


def site_base(request: HttpRequest) -> str:
    """Scheme and host Plivo reaches us on: PUBLIC_URL when set, else this request's (proxy-aware)."""
    return settings.PUBLIC_URL or f"{request.scheme}://{request.get_host()}"


def public_url(request: HttpRequest) -> str:
    """The exact URL Plivo requested (what it signed)."""
    return site_base(request) + request.get_full_path()


def ambiguity(request: HttpRequest) -> str:
    """Why the request's signed string could stand for other parameters; "" when it is of a shape Plivo sends."""
    sources: list[QueryDict] = [request.GET] if request.method == "GET" else [request.GET, request.POST]
    for source in sources:
        for key, values in source.lists():
            if len(values) > 1:
                return f"parameter {key!r} is repeated"
    for key, values in request.GET.lists():
        if any(sep in text for text in (key, *values) for sep in QUERY_SEPARATORS):
            return f"query parameter {key!r} holds '&' or '='"
    return ""


def has_valid_signature(request: HttpRequest, auth_token: str) -> bool:
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    if not signature or not nonce:
        return False
    method = request.method.upper() if request.method else ""
    params = None if method == "GET" else {k: request.POST.get(k, "") for k in request.POST}
    try:
        return validate_v3_signature(method, public_url(request), nonce, auth_token, signature, params)
    except Exception:  # the SDK's argument validators raise on odd input: treat as invalid
        log.warning("Plivo signature check raised", exc_info=True)
        return False


def nonce_key(nonce: str) -> str:
    """Cache key of a nonce: hashed, so that any header value makes a valid key of bounded length."""
    return "plivo-nonce:" + hashlib.sha256(nonce.encode()).hexdigest()


def first_use_of_nonce(request: HttpRequest) -> bool:
    """Remember the request's nonce for ``NONCE_WINDOW_SECONDS``; False when it was already there.

    When the cache (Redis) cannot be reached, the validly signed request is let through with a warning: a call must
    never depend on Redis being up, and replay protection resumes when the cache is back."""
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    try:
        return bool(cache.add(nonce_key(nonce), 1, timeout=NONCE_WINDOW_SECONDS))
    except Exception as exc:
        log.warning(
            "Nonce store unreachable (%s); accepting a validly signed %s without replay check",
            type(exc).__name__,
            request.path,
        )
        return True


def refusal(request: HttpRequest, auth_token: str) -> HttpResponse | None:
    """The 403 for a request that fails one of the three checks (module docstring); None when it passes."""
    if reason := ambiguity(request):
        log.warning("Rejected %s %s: ambiguous signed parameters: %s", request.method, request.path, reason)
        return HttpResponseForbidden(AMBIGUOUS, content_type="text/plain")
    if not has_valid_signature(request, auth_token):
        log.warning("Rejected %s %s: invalid or missing X-Plivo-Signature-V3", request.method, request.path)
        return HttpResponseForbidden(INVALID_SIGNATURE, content_type="text/plain")
    if not first_use_of_nonce(request):
        log.warning("Rejected %s %s: replayed X-Plivo-Signature-V3-Nonce", request.method, request.path)
        return HttpResponseForbidden(REPLAYED, content_type="text/plain")
    return None


def unsigned_allowed() -> bool:
    """Unsigned webhooks pass in debug, or in production with PLIVO_ALLOW_UNSIGNED_WEBHOOKS (see checks.py)."""
    return bool(settings.DEBUG or settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS)


def plivo_signed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse requests that fail the signature checks with 403; without PLIVO_AUTH_TOKEN, refuse every request
    with 503 unless unsigned webhooks are allowed (``unsigned_allowed``)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = settings.PLIVO_AUTH_TOKEN
        if not token and not unsigned_allowed():
            log.error("Rejected %s %s: PLIVO_AUTH_TOKEN is not set (%s)", request.method, request.path, UNSIGNED_HINT)
            return HttpResponse(UNCONFIGURED, status=503, content_type="text/plain")
        if token and (response := refusal(request, token)):
            return response
        return view(request, *args, **kwargs)

    return wrapper

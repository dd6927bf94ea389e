"""Every API error as JSON: ``{"error": {"code": ..., "message": ..., "fields": {...}}}`` — never HTML, never a 500
page (a database at its limit answers 503 with Retry-After)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from voiceproject.middleware import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

CODES: dict[type[exceptions.APIException], tuple[str, str | None]] = {
    # exception → (code, message used instead of DRF's, None = keep DRF's)
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
    ),
    exceptions.ValidationError: ("invalid_request", "The request has invalid fields."),
    exceptions.ParseError: ("malformed_json", None),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", None),
    exceptions.NotAcceptable: ("not_acceptable", None),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.NotFound: ("not_found", None),
    exceptions.Throttled: ("rate_limited", None),
    exceptions.PermissionDenied: ("forbidden", None),
    exceptions.AuthenticationFailed: ("invalid_key", None),
}


class ApiError(exceptions.APIException):
    """An error with its own code, message, optional field and status (default 400)."""

    def __init__(self, code: str, message: str, field: str | None = None, status_code: int = 400) -> None:
        super().__init__(message, code)
        self.status_code, self.error_code, self.message, self.field = status_code, code, message, field


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def flatten(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail as ``{"field": "message", "variables.name": "message"}``."""
    if isinstance(detail, dict):
        out: dict[str, str] = {}
        for name, value in detail.items():
            key = "request" if name == "non_field_errors" and not prefix else f"{prefix}{name}"
            out.update(flatten(value, f"{key}."))
        return out
    if isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        return {prefix.rstrip("."): " ".join(str(item) for item in detail)}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            out.update(flatten(value, f"{prefix}{index}."))
        return out
    return {prefix.rstrip(".") or "request": str(detail)}


def describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, str] | None]:
    if isinstance(exc, ApiError):
        return exc.error_code, exc.message, {exc.field: exc.message} if exc.field else None
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        if set(fields) == {"request"}:
            return "invalid_request", fields["request"], None
        return "invalid_request", "The request has invalid fields.", fields
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    own_code = exc.get_codes() if isinstance(exc.get_codes(), str) else ""
    for cls in type(exc).__mro__:
        if cls in CODES:
            code, message = CODES[cls]
            if own_code and own_code != cls.default_code:  # a code of our own, e.g. "key_revoked"
                code = str(own_code)
            return code, message or detail, None
    return str(own_code or "error"), detail, None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, OperationalError | InterfaceError):
        log.error("API: database unavailable: %s", exc)
        body = error_body("database_unavailable", "The database is temporarily unavailable; retry later.")
        return Response(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate and Retry-After
    if response is None or not isinstance(exc, exceptions.APIException):
        log.error("API: unexpected error", exc_info=exc)
        body = error_body("internal_error", "Something went wrong on our side; the error is logged.")
        return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    code, message, fields = describe(exc)
    response.data = error_body(code, message, fields)
    return response


def unknown_url(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Anything under /api/ no route matches: a JSON 404 (never Django's HTML page)."""
    message = f"No API endpoint at {request.path}. See /api/v1/docs."
    return JsonResponse(error_body("not_found", message), status=404)

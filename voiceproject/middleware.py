"""The database at its limit: a view that cannot get a connection (pool timeout, server refusing connections,
statement timeout) answers a short 503 with Retry-After instead of a 500. Plivo retries its webhooks."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
UNAVAILABLE = "Database temporarily unavailable; retry later."


def database_unavailable() -> HttpResponse:
    response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Turns django.db's OperationalError / InterfaceError raised by a view into ``database_unavailable()``."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error("Database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_unavailable()

"""Rate limits per API key (Django's cache): API_RATE_READ for reading, API_RATE_CALL for placing calls."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from calls.api_keys import ApiKey

log = logging.getLogger(__name__)


class KeyRateThrottle(SimpleRateThrottle):
    """One window per key and kind of request; a view sets ``throttle_scope = "call"`` for calls it places."""

    scope = "read"

    def __init__(self) -> None:  # the rate is read per request (settings may change; DRF reads it once)
        pass

    def get_rate(self) -> str:
        return settings.API_RATE_CALL if self.scope == "call" else settings.API_RATE_READ

    def allow_request(self, request: Request, view: Any) -> bool:
        placing = getattr(view, "throttle_scope", "read") == "call" and request.method == "POST"
        self.scope = "call" if placing else "read"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache (Redis) is down: serve the request rather than fail it
            log.warning("API rate limit not checked: the cache is unavailable", exc_info=True)
            return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}

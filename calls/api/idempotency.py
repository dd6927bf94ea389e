"""``Idempotency-Key`` on ``POST /calls``: a retried request (same key, same API key) gets the call the first one
placed instead of dialling twice. Remembered in Django's cache for a day (shared through Redis when configured)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import cache

from calls.api.errors import ApiError
from calls.api_keys import ApiKey
from calls.models import Call

log = logging.getLogger(__name__)

TTL_SECONDS = 24 * 3600
PENDING = "pending"
MAX_LENGTH = 255


def cache_key(api_key: ApiKey, header: str) -> str:
    return f"api:idempotency:{api_key.pk}:{hashlib.sha256(header.encode()).hexdigest()}"


def once(api_key: ApiKey, header: str | None, place: Callable[[], Call]) -> tuple[Call, bool]:
    """The call ``place()`` makes, or the one an earlier request with this header made; (call, placed now)."""
    if header is None:
        return place(), True
    header = header.strip()
    if not header or len(header) > MAX_LENGTH:
        raise ApiError("invalid_idempotency_key", f"Idempotency-Key must be 1–{MAX_LENGTH} characters.")
    key = cache_key(api_key, header)
    try:
        fresh = cache.add(key, PENDING, TTL_SECONDS)
    except Exception:  # the cache (Redis) is down: no promise of "once" can be kept, so nothing is placed
        log.warning("Idempotency-Key not checked: the cache is unavailable", exc_info=True)
        raise ApiError(
            "idempotency_unavailable", "Idempotency-Key cannot be honoured right now; retry later.", status_code=503
        ) from None
    if not fresh:
        earlier = cache.get(key)
        call = Call.objects.filter(pk=earlier).first() if isinstance(earlier, int) else None
        if call is not None:
            return call, False
        raise ApiError(
            "idempotency_conflict", "A request with this Idempotency-Key is still being processed.", status_code=409
        )
    try:
        call = place()
    except BaseException:
        cache.delete(key)  # refused or failed: the same key may be used again with a corrected request
        raise
    cache.set(key, call.pk, TTL_SECONDS)
    return call, True

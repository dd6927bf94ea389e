"""/healthz: the database must answer ``SELECT 1`` (else 503, the process cannot take calls); the Redis channel
layer is only reported ("degraded", still 200): calls run without it, live pages and scale-out do not.

Bounded: PostgreSQL waits at most DB_POOL_TIMEOUT for a connection and DB_STATEMENT_TIMEOUT_MS for the query;
Redis gets REDIS_PING_TIMEOUT seconds."""

from __future__ import annotations

import functools
import logging

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

REDIS_PING_TIMEOUT = 0.5


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except (DatabaseError, InterfaceError) as error:  # OperationalError (pool timeout, refused) is a DatabaseError
        log.error("healthz: database unreachable: %s", error)
        return False


def channel_layer_redis_url() -> str:
    """The Redis address of the default channel layer, or "" when the layer is not on Redis."""
    layer = settings.CHANNEL_LAYERS.get("default", {})
    if "redis" not in layer.get("BACKEND", "").lower():
        return ""
    host = layer.get("CONFIG", {}).get("hosts", [""])[0]
    return host.get("address", "") if isinstance(host, dict) else str(host)


@functools.lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=REDIS_PING_TIMEOUT, socket_connect_timeout=REDIS_PING_TIMEOUT)


def redis_ok(url: str) -> bool:
    try:
        return bool(redis_client(url).ping())
    except (redis.RedisError, OSError) as error:
        log.warning("healthz: channel layer Redis unreachable: %s", error)
        return False


def healthz(request: HttpRequest) -> HttpResponse:
    """200 "ok"; 200 "degraded: channel layer (redis) unreachable"; 503 "down: database unreachable"."""
    if not database_ok():
        return HttpResponse("down: database unreachable", status=503, content_type="text/plain")
    url = channel_layer_redis_url()
    if url and not redis_ok(url):
        return HttpResponse("degraded: channel layer (redis) unreachable", content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")

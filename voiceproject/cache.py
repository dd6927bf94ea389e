"""Django's Redis cache with one connection pool per process instead of one per request.

Django keeps a cache object per async context, so under ASGI every request (each Plivo webhook runs in a fresh
thread) built its own ``RedisCacheClient`` with its own pool: a new TCP connection to Redis, a handshake and redis-py's
``CLIENT SETINFO`` lookup for every signed webhook's nonce check, and sockets left for the garbage collector. At
100 calls that was the largest single cost of the webhooks (bench/results/s5-base-*: 16 % of the server's samples).
redis-py's pools are thread-safe and fork-safe, so every cache object in the process can share them.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_POOLS: dict[tuple[str, str], redis.ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        with _POOLS_LOCK:
            pool = _POOLS.get(key)
            if pool is None:
                pool = _POOLS[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` whose connection pools are shared by the whole process."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

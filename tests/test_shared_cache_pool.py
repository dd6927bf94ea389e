"""The Redis cache (Plivo nonces) shares one connection pool per process: a webhook does not connect to Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from voiceproject.cache import SharedPoolRedisCache

THREADS = 40


def cache_objects_in_fresh_threads(settings, redis_url: str, backend: str) -> list:
    """``THREADS`` cache objects, each built and used in its own thread, as Django does per request under ASGI."""
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": redis_url}}
    key = f"test-shared-pool:{uuid.uuid4().hex}"
    built, added = [], []

    def request() -> None:
        cache = caches.create_connection("default")
        added.append(cache.add(key, 1, timeout=30))
        built.append(cache)

    threads = [threading.Thread(target=request) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [False] * (THREADS - 1) + [True]  # one store: the nonce is used once, whoever asks
    caches.create_connection("default").delete(key)
    return built


def test_every_cache_object_uses_the_one_pool_of_the_process(settings, redis_url):
    built = cache_objects_in_fresh_threads(settings, redis_url, "voiceproject.cache.SharedPoolRedisCache")

    pools = {id(cache._cache._get_connection_pool(True)) for cache in built}
    assert len(pools) == 1
    pool = built[0]._cache._get_connection_pool(True)
    assert len(pool._available_connections) + len(pool._in_use_connections) <= THREADS  # made as needed, kept


def test_django_stock_redis_cache_builds_a_pool_per_object(settings, redis_url):
    """What the shared pool replaces: Django's own backend connects anew for every request's cache object."""
    built = cache_objects_in_fresh_threads(settings, redis_url, "django.core.cache.backends.redis.RedisCache")

    assert len({id(cache._cache._get_connection_pool(True)) for cache in built}) == THREADS


def test_the_backend_is_django_redis_cache_with_another_client():
    cache = SharedPoolRedisCache("redis://127.0.0.1:6379/0", {})
    assert isinstance(cache, RedisCache)
    assert type(cache._cache).__name__ == "SharedPoolRedisCacheClient"


@pytest.mark.parametrize("redis_configured", [True, False])
def test_settings_use_the_shared_pool_and_no_result_backend(redis_configured):
    code = (
        "from django.conf import settings as s; import json;"
        "print(json.dumps([s.CACHES['default']['BACKEND'], s.CELERY_RESULT_BACKEND, s.CELERY_TASK_IGNORE_RESULT]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DJANGO_"))} | {"DJANGO_DEBUG": "1"}
    if redis_configured:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    backend = (
        "voiceproject.cache.SharedPoolRedisCache"
        if redis_configured
        else ("django.core.cache.backends.locmem.LocMemCache")
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [backend, None, True]

"""Live call events over the channel layer: an optional side channel, never a condition for a call to go on.

Two groups per call: the *watch* group (live pages listen; the engine publishes turns, partial transcripts,
barge-ins, the end) and the *control* group (the engine's socket listens; live pages send "hang up").
Messages are ``{"type": "live.event", "kind": str, "data": dict}`` and ``{"type": "live.control", "action": str}``.

Events only a watching page needs (partial transcripts, many a second) go through ``publish_live``: sent only while
a live page watches the call. Each open live page socket counts as a *watcher* (``Watching``): an entry in a sorted
set per call in the layer's Redis (member: the page's channel name, score: when it stops counting), refreshed every
``WATCH_REFRESH`` seconds and removed when the page leaves; a page whose process died stops counting ``WATCH_TTL``
seconds after its last refresh. Without Redis (one process) the count is kept in process memory.

Nothing here raises or blocks for long: with the layer's Redis down or its connection pool exhausted, sends give
up after ``SEND_TIMEOUT``; each outage is logged once (and its end once). The control side (one receiver per process
for every call's control group) is ``calls/live_control.py``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
SEND_TIMEOUT = 1.0  # seconds a publish or control message may take before it is given up
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)  # the control listener's (and a watcher's) backoff; the last one repeats
WATCH_TTL = 15.0  # seconds a watcher counts after its last refresh (its page's process may have died)
WATCH_REFRESH = 5.0  # seconds between a live page's refreshes of its watcher entry
WATCHED_FOR = 1.0  # seconds a process trusts its last answer to "does a page watch this call?"
_CACHE_PRUNE_AT = 1000  # cached answers kept before the expired ones are dropped


def _safe(call_uuid: str) -> str:
    return _UNSAFE.sub("_", call_uuid)[:80]


def watch_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.watch"


def control_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.control"


class BoundedRedisChannelLayer(RedisChannelLayer):
    """channels-redis whose commands wait at most ``pool_timeout`` seconds for a pooled connection.

    channels-redis builds every pool of an ``address`` host with redis-py's ``ConnectionPool``, which raises
    ``MaxConnectionsError`` the moment the host's ``max_connections`` are in use. With a ``pool_timeout`` (CONFIG,
    else ``settings.REDIS_POOL_TIMEOUT_MS``; 0 = none) the pool is redis-py's ``BlockingConnectionPool`` with the
    same host options: a command waits for a free connection, then fails with ``ConnectionError("No connection
    available.")``. Sentinel hosts, or no wait: channels-redis' own pool.
    """

    def __init__(self, *args: Any, pool_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if pool_timeout is None:
            pool_timeout = getattr(settings, "REDIS_POOL_TIMEOUT_MS", 0) / 1000
        self.pool_timeout = pool_timeout or None

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if self.pool_timeout is None or "address" not in host:
            return super().create_pool(index)
        return BlockingConnectionPool.from_url(host.pop("address"), timeout=self.pool_timeout, **host)


class _Outage:
    """Logs the first failure of an outage and its end, not every failure in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("Channel layer unavailable (%s): %s: %s; retrying", self.what, type(exc).__name__, exc)

    def worked(self) -> None:
        if self.down:
            self.down = False
            log.warning("Channel layer available again (%s)", self.what)


_sends = _Outage("live events and control")
_watchers = _Outage("live page watchers")


def _pool_exhausted(exc: BaseException) -> bool:
    """redis-py's pool had no free connection: immediately (``MaxConnectionsError``) or after its bounded wait."""
    return isinstance(exc, MaxConnectionsError) or (
        isinstance(exc, RedisConnectionError) and isinstance(exc.__cause__, TimeoutError)
    )


async def _twice(command: Callable[[], Awaitable[T]]) -> T:
    """Run ``command``, again at once if it fails: after a Redis restart the first command on each pooled
    connection fails (the connection went stale); the second gets a fresh one. An exhausted pool is not retried."""
    try:
        return await command()
    except Exception as exc:
        if _pool_exhausted(exc):
            raise
        return await command()


async def _bounded(command: Callable[[], Awaitable[T]], outage: _Outage) -> tuple[bool, T | None]:
    """(True, result) of ``command`` (``_twice``) within SEND_TIMEOUT, else (False, None). Never raises."""
    try:
        result = await asyncio.wait_for(_twice(command), SEND_TIMEOUT)
    except Exception as exc:  # TimeoutError, redis ConnectionError, MaxConnectionsError...: not worth a call
        outage.failed(exc)
        return False, None
    outage.worked()
    return True, result


async def join(group: str, channel: str) -> None:
    """Add ``channel`` to ``group`` (bounded by SEND_TIMEOUT; one retry, see ``_twice``). Raises when it fails."""
    layer = get_channel_layer()
    await asyncio.wait_for(_twice(lambda: layer.group_add(group, channel)), SEND_TIMEOUT)


async def _group_send(group: str, message: dict) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    sent, _ = await _bounded(lambda: layer.group_send(group, message), _sends)
    return sent


async def publish(call_uuid: str, kind: str, data: dict) -> bool:
    """Tell live pages something happened (turns, call events, "ended": always sent, watched or not).
    Never raises; False when the layer could not take it."""
    return await _group_send(watch_group(call_uuid), {"type": "live.event", "kind": kind, "data": data})


async def publish_live(call_uuid: str, kind: str, data: dict) -> bool:
    """``publish`` for events only a watching page needs (partial transcripts): sent only while a live page watches
    the call (``watched``). Never raises, at most SEND_TIMEOUT; False when not sent (nobody watches, layer down)."""
    try:
        return await asyncio.wait_for(_publish_if_watched(call_uuid, kind, data), SEND_TIMEOUT)
    except Exception as exc:
        _sends.failed(exc)
        return False


async def _publish_if_watched(call_uuid: str, kind: str, data: dict) -> bool:
    return await watched(call_uuid) and await publish(call_uuid, kind, data)


# --- Watchers: who watches which call ---

_local: dict[str, dict[str, float]] = {}  # without Redis: call → watcher → when it stops counting (monotonic)
_cache: dict[str, tuple[float, asyncio.Task[bool]]] = {}  # call → (answer good until, the check giving it)


def _watchers_key(layer: Any, call_uuid: str) -> tuple[Any, str]:
    """The Redis client holding the call's watch group, and the call's watcher set there."""
    group = watch_group(call_uuid)
    return layer.connection(layer.consistent_hash(group)), f"{layer.prefix}:watchers:{group}"


async def watch(call_uuid: str, watcher: str) -> bool:
    """Count ``watcher`` (a live page's channel name) as watching the call for the next WATCH_TTL seconds.
    Never raises, at most SEND_TIMEOUT; False when the layer could not take it."""
    layer = get_channel_layer()
    if layer is None:
        return False
    if not isinstance(layer, RedisChannelLayer):
        _local.setdefault(call_uuid, {})[watcher] = time.monotonic() + WATCH_TTL
        return True

    async def command() -> None:
        client, key = _watchers_key(layer, call_uuid)
        now = time.time()
        pipe = client.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now)  # watchers whose processes died
        pipe.zadd(key, {watcher: now + WATCH_TTL})
        pipe.pexpire(key, int(WATCH_TTL * 1000) + 1000)  # the set itself goes when nobody refreshes it
        await pipe.execute()

    done, _ = await _bounded(command, _watchers)
    _cache.pop(call_uuid, None)  # a page of this process: this process publishes at once
    return done


async def unwatch(call_uuid: str, watcher: str) -> bool:
    """Stop counting ``watcher``. Never raises, at most SEND_TIMEOUT (if it fails, the entry expires by itself)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    if not isinstance(layer, RedisChannelLayer):
        _local.get(call_uuid, {}).pop(watcher, None)
        return True

    async def command() -> None:
        client, key = _watchers_key(layer, call_uuid)
        await client.zrem(key, watcher)

    done, _ = await _bounded(command, _watchers)
    _cache.pop(call_uuid, None)
    return done


async def watched(call_uuid: str) -> bool:
    """Whether a live page watches the call. With Redis: one read per call per WATCHED_FOR seconds in this process
    (concurrent callers share it); False when Redis cannot tell (live-only events are then skipped). Never raises."""
    layer = get_channel_layer()
    if layer is None:
        return False
    if not isinstance(layer, RedisChannelLayer):
        return _local_count(call_uuid) > 0
    loop, now = asyncio.get_running_loop(), time.monotonic()
    entry = _cache.get(call_uuid)
    if entry is None or entry[0] <= now or entry[1].get_loop() is not loop:
        if len(_cache) >= _CACHE_PRUNE_AT:
            for stale in [c for c, (until, task) in _cache.items() if until <= now and task.done()]:
                del _cache[stale]
        entry = _cache[call_uuid] = (now + WATCHED_FOR, loop.create_task(_count(layer, call_uuid)))
    return await asyncio.shield(entry[1])


async def _count(layer: Any, call_uuid: str) -> bool:
    async def command() -> int:
        client, key = _watchers_key(layer, call_uuid)
        return await client.zcount(key, f"({time.time()}", "+inf")

    done, count = await _bounded(command, _watchers)
    return done and bool(count)


def _local_count(call_uuid: str) -> int:
    now = time.monotonic()
    watchers = _local.get(call_uuid, {})
    for gone in [w for w, until in watchers.items() if until <= now]:
        del watchers[gone]
    if not watchers:
        _local.pop(call_uuid, None)
    return len(watchers)


class Watching:
    """One live page watching a call, from ``start`` (counted at once) to ``stop``; refreshed meanwhile."""

    def __init__(self, call_uuid: str, watcher: str, refreshes: asyncio.Task[None]) -> None:
        self.call_uuid, self.watcher, self._refreshes = call_uuid, watcher, refreshes

    @classmethod
    async def start(cls, call_uuid: str, watcher: str) -> Watching:
        """Count ``watcher`` now and keep it counted. Never raises, at most SEND_TIMEOUT (a failed first count is
        retried with backoff)."""
        counted = await watch(call_uuid, watcher)
        return cls(call_uuid, watcher, asyncio.create_task(_refresh(call_uuid, watcher, counted)))

    async def stop(self) -> None:
        """Stop refreshing and stop counting. Never raises, at most SEND_TIMEOUT."""
        self._refreshes.cancel()
        await asyncio.wait([self._refreshes])
        await unwatch(self.call_uuid, self.watcher)


async def _refresh(call_uuid: str, watcher: str, counted: bool) -> None:
    failures = 0 if counted else 1
    while True:
        await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1] if failures else WATCH_REFRESH)
        failures = 0 if await watch(call_uuid, watcher) else failures + 1

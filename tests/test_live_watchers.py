"""Live-only events (partial transcripts) reach the channel layer only while a live page watches the call; turns and
the end always do. A page whose process died stops counting after the TTL; an exhausted Redis pool never makes a
publish raise or wait past its bound. Against a real Redis (REDIS_URL) where it matters, and the in-memory layer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer

from calls import live
from calls.live import watch_group
from calls.models import Call
from streaming.journal import Journal
from streaming.task_set import TaskSet
from tests.call_factories import make_user
from tests.test_live_page import TURN, close_thread_connections, communicator, live_call, session_cookie  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def redis_layers(url: str, backend: str = "calls.live.BoundedRedisChannelLayer", **config) -> dict:
    """A Redis channel layer of its own (a fresh key prefix: flushing it touches no one else's keys)."""
    host = {"address": url, "socket_timeout": None, "max_connections": config.pop("max_connections", 20)}
    config = {"hosts": [host], "prefix": f"test-watch-{uuid.uuid4().hex[:10]}", "capacity": 1000, **config}
    return {"default": {"BACKEND": backend, "CONFIG": config}}


@pytest.fixture(autouse=True)
def fresh_watchers():
    """The module's per-process state: cached answers, in-memory watchers, outage flags."""
    live._cache.clear()
    live._local.clear()
    live._sends.down = live._watchers.down = False
    yield
    live._cache.clear()
    live._local.clear()


@pytest.fixture(params=["memory", "redis"])
def layer_kind(request, settings) -> str:
    if request.param == "redis":
        settings.CHANNEL_LAYERS = redis_layers(request.getfixturevalue("redis_url"))
    return request.param


@pytest.fixture
async def layer(layer_kind):
    channel_layers.backends.clear()
    layer = get_channel_layer()
    yield layer
    if layer_kind == "redis":
        await layer.flush()


async def page_socket(call: Call, user: str = "operator"):
    """A live page of ``call`` (the real consumer through the ASGI application), signed in as ``user``."""
    session = await sync_to_async(session_cookie)(await sync_to_async(make_user)(user, permitted=True))
    socket = communicator(call.call_uuid, session)
    connected, _ = await socket.connect()
    assert connected
    return socket


async def spy_on(layer, call_uuid: str) -> str:
    """A channel in the call's watch group: it sees every message that reaches the group."""
    channel = await layer.new_channel()
    await layer.group_add(watch_group(call_uuid), channel)
    return channel


async def received(layer, channel: str, wait: float = 0.3) -> list[tuple[str, dict]]:
    messages = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), wait)
        except TimeoutError:
            return messages
        messages.append((message["kind"], message["data"]))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_live_events_only_while_a_page_watches_turns_always(layer):
    call = await sync_to_async(live_call)()
    spy = await spy_on(layer, call.call_uuid)

    partials = [live.publish_live(call.call_uuid, "partial", {"text": f"p{i}"}) for i in range(20)]
    assert await asyncio.gather(*partials) == [False] * 20
    assert await live.publish(call.call_uuid, "turn", TURN)
    assert await received(layer, spy) == [("turn", TURN)]  # nobody watches: turns only

    page = await page_socket(call)
    assert await live.publish_live(call.call_uuid, "partial", {"text": "what are"})
    assert await live.publish(call.call_uuid, "turn", TURN)
    assert await page.receive_json_from(timeout=1) == {"kind": "partial", "data": {"text": "what are"}}
    assert await page.receive_json_from(timeout=1) == {"kind": "turn", "data": TURN}
    assert await received(layer, spy) == [("partial", {"text": "what are"}), ("turn", TURN)]

    await page.disconnect()
    assert not await live.publish_live(call.call_uuid, "partial", {"text": "nobody"})
    assert await live.publish(call.call_uuid, "ended", {})
    assert await received(layer, spy) == [("ended", {})]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_the_journal_shows_partials_to_watched_calls_only_turns_and_events_always(layer):
    call = await sync_to_async(live_call)()
    spy = await spy_on(layer, call.call_uuid)
    writes = TaskSet(call.call_uuid)
    journal = Journal(SimpleNamespace(id=call.id, call_uuid=call.call_uuid, next_sequence=100), writes)
    journal.show("partial", {"text": "is there"})
    journal.turn(journal.next_sequence(), "caller", "Is there parking?")
    journal.event("dtmf", {"digit": "5"}, shown={"digit": "5"})
    await writes.wait(timeout=5)
    assert sorted(kind for kind, _ in await received(layer, spy)) == ["dtmf", "turn"]

    page = await page_socket(call)
    journal.show("partial", {"text": "is there"})
    await writes.wait(timeout=5)
    assert await received(layer, spy) == [("partial", {"text": "is there"})]
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_two_pages_count_separately(layer):
    call = await sync_to_async(live_call)()
    first, second = await page_socket(call, "first"), await page_socket(call, "second")
    await first.disconnect()
    assert await live.publish_live(call.call_uuid, "partial", {"text": "still watched"})
    assert await second.receive_json_from(timeout=1) == {"kind": "partial", "data": {"text": "still watched"}}
    await second.disconnect()
    assert not await live.publish_live(call.call_uuid, "partial", {"text": "not any more"})


async def test_the_answer_is_read_once_a_second_per_call(settings, redis_url, monkeypatch):
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    channel_layers.backends.clear()
    layer, reads = get_channel_layer(), []
    count = live._count

    async def counted(layer, call_uuid: str) -> bool:
        reads.append(call_uuid)
        return await count(layer, call_uuid)

    monkeypatch.setattr(live, "_count", counted)
    await live.watch("CA-busy", "page-1")
    burst = await asyncio.gather(*(live.publish_live("CA-busy", "partial", {"n": n}) for n in range(25)))
    one_by_one = [await live.publish_live("CA-busy", "partial", {"n": n}) for n in range(25)]
    assert burst + one_by_one == [True] * 50
    assert reads == ["CA-busy"]  # 50 partials, one Redis read
    await asyncio.sleep(live.WATCHED_FOR)
    assert await live.publish_live("CA-busy", "partial", {"n": 50})
    assert reads == ["CA-busy"] * 2
    await layer.flush()


async def test_another_processs_page_is_seen_within_the_cache_period(settings, redis_url):
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    channel_layers.backends.clear()
    layer = get_channel_layer()
    assert not await live.publish_live("CA-x", "partial", {})  # "not watched" is now cached here
    key = f"{layer.prefix}:watchers:{watch_group('CA-x')}"
    client = layer.connection(0)
    await client.zadd(key, {"page-of-another-process": time.time() + live.WATCH_TTL})
    started = time.monotonic()
    assert not await live.publish_live("CA-x", "partial", {})  # still the cached answer: no read per partial
    while not await live.publish_live("CA-x", "partial", {}):
        await asyncio.sleep(0.05)
    assert time.monotonic() - started <= live.WATCHED_FOR + 0.2
    await layer.flush()


WATCHER_PROCESS = """
import asyncio, json, sys
import django
django.setup()
from django.conf import settings
from calls import live
settings.CHANNEL_LAYERS = json.loads(sys.argv[1])
live.WATCH_TTL, live.WATCH_REFRESH = 1.0, 0.25
async def main():
    await live.Watching.start(sys.argv[2], "page-of-a-process-killed-later")
    print("watching", flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


async def test_a_killed_page_process_stops_counting_after_the_ttl(settings, redis_url):
    """A real process registers a page and refreshes it (TTL 1 s, refresh 0.25 s); SIGKILL leaves its entry behind."""
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    channel_layers.backends.clear()
    layer = get_channel_layer()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.settings"}
    command = [sys.executable, "-c", WATCHER_PROCESS, json.dumps(settings.CHANNEL_LAYERS), "CA-dies"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(process.stdout.readline)
        assert line == "watching\n", process.stderr.read() if process.poll() is not None else line
        await asyncio.sleep(1.5)  # longer than the TTL: its refreshes keep it counted
        live._cache.clear()
        assert await live.watched("CA-dies")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(5)
    killed = time.monotonic()
    live._cache.clear()
    assert await live.watched("CA-dies")  # its last refresh still holds
    while await live.watched("CA-dies"):
        live._cache.clear()
        await asyncio.sleep(0.05)
        assert time.monotonic() - killed < 1.0 + 0.5, "a dead page still counts after the TTL"
    assert not await live.publish_live("CA-dies", "partial", {"text": "nobody"})
    await layer.flush()


async def test_an_unrefreshed_watcher_stops_counting_without_redis_too(monkeypatch):
    monkeypatch.setattr(live, "WATCH_TTL", 0.2)
    assert await live.watch("CA-mem", "page-never-refreshed")
    assert await live.watched("CA-mem")
    await asyncio.sleep(0.25)
    assert not await live.watched("CA-mem")


async def ticks_while(work) -> tuple[list, float, int]:
    """(results, seconds, how often a 10 ms ticker ran) of ``work``: a loop blocked by it would not have ticked."""
    ticks, stop = [0], asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks[0] += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    results = await work
    seconds = time.monotonic() - started
    stop.set()
    await ticking
    return results, seconds, ticks[0]


async def test_a_held_pool_waits_its_bound_then_gives_up_without_raising(settings, redis_url, caplog):
    """Every connection of a 2-connection pool held: 200 publishes wait 0.2 s for one, return False, raise nothing."""
    settings.CHANNEL_LAYERS = redis_layers(redis_url, max_connections=2, pool_timeout=0.2)
    channel_layers.backends.clear()
    layer = get_channel_layer()
    spy = await spy_on(layer, "CA-held")
    assert await live.watch("CA-held", "page-1")
    live._cache.clear()
    pool = layer.connection(0).connection_pool
    held = [await pool.get_connection() for _ in range(2)]
    sends = [live.publish("CA-held", "turn", TURN) for _ in range(100)]
    sends += [live.publish_live("CA-held", "partial", {"n": n}) for n in range(100)]
    results, seconds, ticks = await ticks_while(asyncio.gather(*sends, return_exceptions=True))
    assert results == [False] * 200
    assert 0.2 <= seconds < 5, seconds  # the pool's wait, once: waited per message it would be 40 s
    assert ticks >= 3, ticks  # the 0.2 s wait was awaited, not slept on the loop
    unavailable = [r for r in caplog.records if "Channel layer unavailable" in r.getMessage()]
    assert len(unavailable) == 2  # once for the sends, once for the watcher reads; not 200 times
    for connection in held:
        await pool.release(connection)
    live._cache.clear()
    assert await live.publish_live("CA-held", "partial", {"text": "back"})
    assert await received(layer, spy) == [("partial", {"text": "back"})]
    assert any("available again" in r.getMessage() for r in caplog.records)
    await layer.flush()


@pytest.mark.parametrize(
    "backend, options",
    [
        ("channels_redis.core.RedisChannelLayer", {}),  # channels-redis' own pool: MaxConnectionsError at once
        ("calls.live.BoundedRedisChannelLayer", {"pool_timeout": 0.5}),  # waits up to 0.5 s (the default)
    ],
)
async def test_many_publishes_on_a_tiny_pool_never_raise_and_stay_bounded(settings, redis_url, backend, options):
    settings.CHANNEL_LAYERS = redis_layers(redis_url, backend, max_connections=2, **options)
    channel_layers.backends.clear()
    layer = get_channel_layer()
    spy = await spy_on(layer, "CA-many")
    assert await live.watch("CA-many", "page-1")
    sends = [live.publish("CA-many", "turn", {"n": n}) for n in range(150)]
    sends += [live.publish_live("CA-many", "partial", {"n": n}) for n in range(150)]
    results, seconds, _ticks = await ticks_while(asyncio.gather(*sends, return_exceptions=True))
    assert all(result in (True, False) for result in results), [r for r in results if r not in (True, False)]
    assert seconds < 10 * live.SEND_TIMEOUT, seconds  # bounded by the send timeout, not 300 of them in a row
    delivered = await received(layer, spy)
    assert len(delivered) == results.count(True)
    if backend.startswith("channels_redis"):
        assert False in results  # the pool really ran out (measured: 2 of 300 got through)
    else:
        assert results.count(True) >= 270  # they waited for a connection instead (measured: 300 of 300 in 0.12 s)
    await layer.flush()


def test_settings_size_the_pool_from_the_environment():
    code = "from django.conf import settings as s; import json; print(json.dumps(s.CHANNEL_LAYERS['default']))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DJANGO_"))}
    env = {**clean, "REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_MAX_CONNECTIONS": "40", "DJANGO_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    layer = json.loads(result.stdout.splitlines()[-1])
    assert layer["BACKEND"] == "calls.live.BoundedRedisChannelLayer"
    assert layer["CONFIG"]["hosts"] == [
        {"address": "redis://127.0.0.1:6379/0", "socket_timeout": None, "max_connections": 40}
    ]
    bad = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "REDIS_MAX_CONNECTIONS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert "REDIS_MAX_CONNECTIONS must be at least 1" in bad.stderr


async def test_the_bounded_layer_waits_with_redis_pys_blocking_pool(redis_url):
    from redis.asyncio import BlockingConnectionPool, ConnectionPool

    host = {"address": redis_url, "socket_timeout": None, "max_connections": 7}
    bounded = live.BoundedRedisChannelLayer(hosts=[host], pool_timeout=0.3)
    pool = bounded.create_pool(0)
    assert (type(pool), pool.max_connections, pool.timeout) == (BlockingConnectionPool, 7, 0.3)
    unbounded = live.BoundedRedisChannelLayer(hosts=[host], pool_timeout=0)
    assert type(unbounded.create_pool(0)) is ConnectionPool
    await pool.disconnect()

"""Control messages: one receiver per process for every call's control group (calls/live_control.py).

On the in-memory layer and, where it matters (connections), against a real Redis (REDIS_URL)."""

from __future__ import annotations

import asyncio

import pytest
import redis
from channels.layers import channel_layers, get_channel_layer

from calls import live_control
from calls.live import control_group
from tests.test_live_watchers import redis_layers


@pytest.fixture
async def layer():
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


@pytest.fixture
def redis_layer(settings, redis_url):
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    return redis_url


class Heard:
    """A call's handler: what it heard, and an event per message."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.arrived = asyncio.Event()

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)
        self.arrived.set()

    async def next(self) -> dict:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.messages[-1]


async def listening(call_uuid: str, handle) -> asyncio.Task:
    """A call's control listener, once its group holds the process's channel."""
    task = asyncio.get_running_loop().create_task(live_control.listen_control(call_uuid, handle))
    for _ in range(500):
        receiver = live_control._RECEIVERS.get(asyncio.get_running_loop())
        if receiver and receiver.channel in await members(control_group(call_uuid)):
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the call never joined its control group")


async def members(group: str) -> set[str]:
    """The channels in a group: the in-memory layer's dict, or channels-redis's sorted set."""
    layer = get_channel_layer()
    if hasattr(layer, "groups"):
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {member.decode() for member in await connection.zrange(layer._group_key(group), 0, -1)}


async def stop(*tasks: asyncio.Task) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_each_call_hears_its_own_messages_through_the_one_channel(layer):
    first, second = Heard(), Heard()
    tasks = [await listening("call-a", first), await listening("call-b", second)]
    receiver = live_control._RECEIVERS[asyncio.get_running_loop()]
    assert await members(control_group("call-a")) == await members(control_group("call-b")) == {receiver.channel}
    assert await live_control.send_control("call-b", "hangup") is True
    assert await second.next() == {"type": "live.control", "call": "call-b", "action": "hangup", "sender": ""}
    assert await live_control.send_control("call-a", "replace", sender="another-socket") is True
    replace = {"type": "live.control", "call": "call-a", "action": "replace", "sender": "another-socket"}
    assert await first.next() == replace
    assert len(first.messages) == len(second.messages) == 1
    await stop(*tasks)


async def test_a_slow_handler_never_holds_up_another_calls_message(layer):
    release = asyncio.Event()

    async def slow(message: dict) -> None:
        await release.wait()  # e.g. a replaced socket's runner stopping

    quick = Heard()
    tasks = [await listening("call-slow", slow), await listening("call-quick", quick)]
    await live_control.send_control("call-slow", "replace")
    await live_control.send_control("call-quick", "hangup")
    assert (await quick.next())["action"] == "hangup"
    release.set()
    await stop(*tasks)


async def test_two_sockets_of_one_call_in_one_process_both_hear_it_until_the_last_one_leaves(layer):
    old, new = Heard(), Heard()
    old_task, new_task = await listening("call-1", old), await listening("call-1", new)
    await live_control.send_control("call-1", "machine")
    assert (await old.next())["action"] == (await new.next())["action"] == "machine"
    await stop(old_task)  # the group still holds the channel: the other socket still listens
    await live_control.send_control("call-1", "hangup")
    assert (await new.next())["action"] == "hangup"
    assert len(old.messages) == 1
    receiver = live_control._RECEIVERS[asyncio.get_running_loop()]
    await stop(new_task)
    assert await members(control_group("call-1")) == set()  # left when the last socket did
    assert asyncio.get_running_loop() not in live_control._RECEIVERS  # no call left: the receiver stopped
    assert receiver.task is None and receiver.handlers == {}


async def test_a_failing_handler_is_logged_and_the_next_message_still_arrives(layer, caplog):
    calls: list[str] = []

    async def failing(message: dict) -> None:
        calls.append(message["action"])
        if len(calls) == 1:
            raise RuntimeError("boom")

    task = await listening("call-1", failing)
    await live_control.send_control("call-1", "hangup")
    await live_control.send_control("call-1", "machine")
    for _ in range(200):
        if len(calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert calls == ["hangup", "machine"]
    assert "Control message 'hangup' for call-1 failed" in caplog.text
    await stop(task)


async def test_ending_calls_opens_no_redis_connection_and_the_others_still_hear(redis_layer, layer):
    """The reason for one receiver: a receive per call, cancelled when the call ended, closed the Redis connection
    it was blocked on, and the next receive opened a new one (a handshake per ended call)."""
    server = redis.Redis.from_url(redis_layer)
    heard = {f"call-{n}": Heard() for n in range(6)}
    tasks = {call: await listening(call, handle) for call, handle in heard.items()}
    await live_control.send_control("call-0", "hangup")  # the receiver is blocked in Redis now
    assert (await heard["call-0"].next())["action"] == "hangup"
    opened = server.info("stats")["total_connections_received"]
    for call in ("call-1", "call-2", "call-3", "call-4"):
        await stop(tasks.pop(call))
        await asyncio.sleep(0.05)
    await live_control.send_control("call-5", "hangup")
    assert (await heard["call-5"].next())["action"] == "hangup"
    assert server.info("stats")["total_connections_received"] == opened
    await stop(*tasks.values())
    await layer.flush()


async def test_a_message_that_names_no_call_is_ignored_with_a_warning(layer, caplog):
    heard = Heard()
    task = await listening("call-1", heard)
    receiver = live_control._RECEIVERS[asyncio.get_running_loop()]
    await layer.send(receiver.channel, {"type": "live.control", "action": "hangup"})
    await live_control.send_control("call-1", "machine")
    assert (await heard.next())["action"] == "machine"
    assert heard.messages == [{"type": "live.control", "call": "call-1", "action": "machine", "sender": ""}]
    assert "A control message without a call was ignored: 'hangup'" in caplog.text
    await stop(task)

"""The live page's socket over a failing channel layer: a reconnecting page gets the turns it missed; one layer
failure (a stale connection after a Redis restart) is survived, a second closes the socket with 1013."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from calls.live import watch_group
from calls.models import Call, Turn
from tests.call_factories import dental_agent, make_call, make_user
from tests.test_live_page import close_thread_connections, live_call, session_cookie  # noqa: F401
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def page_socket(call: Call, query: str = "") -> WebsocketCommunicator:
    session = await sync_to_async(session_cookie)(await sync_to_async(make_user)("operator", permitted=True))
    headers = [(b"origin", b"http://testserver"), (b"cookie", f"sessionid={session}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/calls/{call.call_uuid}/live/{query}", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    return socket


def stored_turn(call: Call, sequence: int) -> dict:
    turn = Turn.objects.get(call=call, sequence=sequence)
    return {
        "sequence": sequence,
        "role": turn.role,
        "text": turn.text,
        "heard_text": turn.heard_text,
        "interrupted": turn.interrupted,
        "resumed": turn.resumed,
        "start_ms": turn.start_ms,
        "tool_calls": turn.tool_calls,
    }


async def test_a_reconnecting_page_gets_the_turns_after_its_last_one(close_thread_connections):  # noqa: F811
    call = await sync_to_async(live_call)()
    count = await sync_to_async(Turn.objects.filter(call=call).count)()
    assert count >= 3
    socket = await page_socket(call, "?after=1")
    expected = [await sync_to_async(stored_turn)(call, seq) for seq in range(2, count + 1)]
    assert [await socket.receive_json_from(timeout=1) for _ in expected] == [
        {"kind": "turn", "data": turn} for turn in expected
    ]
    assert await socket.receive_nothing(timeout=0.1)  # live call: no "ended"
    await socket.disconnect()


async def test_a_page_reconnecting_to_an_ended_call_is_told_it_ended(close_thread_connections):  # noqa: F811
    call = await sync_to_async(lambda: make_call(dental_agent()))()
    count = await sync_to_async(Turn.objects.filter(call=call).count)()
    socket = await page_socket(call, f"?after={count}")
    assert await socket.receive_json_from(timeout=1) == {"kind": "ended", "data": {}}
    await socket.disconnect()


async def test_a_first_page_connection_gets_nothing_replayed(close_thread_connections):  # noqa: F811
    call = await sync_to_async(live_call)()
    socket = await page_socket(call)
    assert await socket.receive_nothing(timeout=0.1)
    await socket.disconnect()


async def test_one_layer_failure_is_survived_two_close_the_socket_with_1013(close_thread_connections, monkeypatch):  # noqa: F811
    call = await sync_to_async(live_call)()
    layer = get_channel_layer()
    receive, failures = layer.receive, []

    async def failing_receive(channel: str) -> dict:
        if failures:
            raise ConnectionError(failures.pop())
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", failing_receive)
    failures.append("stale connection")
    socket = await page_socket(call)
    await layer.group_send(watch_group(call.call_uuid), {"type": "live.event", "kind": "partial", "data": {"x": 1}})
    assert await socket.receive_json_from(timeout=1) == {"kind": "partial", "data": {"x": 1}}
    failures.extend(["down", "still down"])
    await layer.group_send(watch_group(call.call_uuid), {"type": "live.event", "kind": "partial", "data": {"x": 2}})
    assert await socket.receive_output(timeout=1) == {"type": "websocket.close", "code": 1013}

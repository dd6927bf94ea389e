"""Live call page: the page, its session-authenticated socket, and the CSRF-protected hang-up button."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from calls.live import control_group, watch_group
from calls.models import Call, CallEvent
from tests.call_factories import dental_agent, make_call, make_user
from voiceproject.asgi import application

TURN = {
    "sequence": 8,
    "role": "agent",
    "text": "Let me <check> that.",
    "interrupted": False,
    "heard_text": "",
    "start_ms": 21000,
    "end_ms": 22500,
}


@pytest.fixture
async def close_thread_connections():
    """Async tests use the DB from asgiref's worker thread; close its connections (PostgreSQL keeps them)."""
    yield
    await sync_to_async(connections.close_all)()


def live_call() -> Call:
    return make_call(dental_agent(), status=Call.Status.IN_PROGRESS, ended_at=None, stream_ended_at=None)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(call_uuid: str, session: str = "", origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    headers = [(b"origin", origin)] + ([(b"cookie", f"sessionid={session}".encode())] if session else [])
    return WebsocketCommunicator(application, f"/ws/calls/{call_uuid}/live/", headers=headers)


@pytest.mark.django_db
def test_live_page_shows_stored_turns_socket_path_and_hangup_form(client):
    call = live_call()
    client.force_login(make_user("operator", permitted=True, hangup=True))
    html = client.get(f"/calls/{call.pk}/live/").content.decode()
    assert '<div id="live" data-ws-path="/ws/calls/CA-known-1/live/">' in html
    assert html.count('<li class="turn ') == 7
    assert '<span class="heard">Sure, we have Tuesday at 10</span>' in html
    assert '<span class="time" data-seek="7300">00:07.3</span> Agent · interrupted' in html
    assert f'<form method="post" action="/calls/{call.pk}/hangup/" class="actions">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<button type="submit" class="danger" id="hangup">Hang up</button>' in html
    assert '<p class="ended" id="ended" hidden>' in html


@pytest.mark.django_db(transaction=True)
async def test_permitted_user_receives_the_calls_events(close_thread_connections):
    call = await sync_to_async(live_call)()
    session = await sync_to_async(session_cookie)(await sync_to_async(make_user)("operator", permitted=True))
    socket = communicator(call.call_uuid, session)
    connected, _ = await socket.connect()
    assert connected
    layer = get_channel_layer()
    await layer.group_send(watch_group(call.call_uuid), {"type": "live.event", "kind": "turn", "data": TURN})
    await layer.group_send(watch_group("CA-other"), {"type": "live.event", "kind": "ended", "data": {}})
    await layer.group_send(watch_group(call.call_uuid), {"type": "live.event", "kind": "ended", "data": {}})
    assert await socket.receive_json_from(timeout=1) == {"kind": "turn", "data": TURN}
    assert await socket.receive_json_from(timeout=1) == {"kind": "ended", "data": {}}
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("who", "code"), [("anonymous", 4403), ("visitor", 4403), ("unknown-call", 4404)])
async def test_sockets_without_permission_or_call_are_refused(who, code, close_thread_connections):
    call = await sync_to_async(live_call)()
    session = ""
    if who != "anonymous":
        user = await sync_to_async(make_user)("someone", permitted=who == "unknown-call")
        session = await sync_to_async(session_cookie)(user)
    socket = communicator("CA-nope" if who == "unknown-call" else call.call_uuid, session)
    assert await socket.connect() == (False, code)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_sockets_from_foreign_origins_are_refused(close_thread_connections):
    call = await sync_to_async(live_call)()
    session = await sync_to_async(session_cookie)(await sync_to_async(make_user)("operator", permitted=True))
    socket = communicator(call.call_uuid, session, origin=b"https://evil.example")
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


def control_channel(call_uuid: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(control_group(call_uuid), channel)
    return channel


def receive(channel: str, timeout: float = 1) -> dict:
    async def get() -> dict:
        return await asyncio.wait_for(get_channel_layer().receive(channel), timeout=timeout)

    return async_to_sync(get)()


@pytest.mark.django_db
def test_hangup_button_sends_the_control_message_and_records_it():
    call = live_call()
    channel = control_channel(call.call_uuid)
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator", permitted=True, hangup=True))
    page = client.get(f"/calls/{call.pk}/live/")
    token = page.context["csrf_token"]
    assert client.post(f"/calls/{call.pk}/hangup/").status_code == 403  # no CSRF token
    response = client.post(f"/calls/{call.pk}/hangup/", {"csrfmiddlewaretoken": str(token)})
    assert (response.status_code, response["Location"]) == (302, f"/calls/{call.pk}/live/")
    message = receive(channel)
    assert (message["type"], message["call"], message["action"]) == ("live.control", call.call_uuid, "hangup")
    event = CallEvent.objects.get(call=call)
    assert (event.kind, event.data) == ("hangup-requested", {"by": "operator"})


@pytest.mark.django_db
def test_hangup_of_an_ended_call_sends_nothing(client):
    call = make_call(dental_agent())
    channel = control_channel(call.call_uuid)
    client.force_login(make_user("operator", permitted=True, hangup=True))
    response = client.post(f"/calls/{call.pk}/hangup/", follow=True)
    assert response.redirect_chain == [(f"/calls/{call.pk}/", 302)]
    assert "This call has already ended." in response.content.decode()
    assert CallEvent.objects.count() == 0
    with pytest.raises(TimeoutError):
        receive(channel, timeout=0.2)


@pytest.mark.django_db
def test_hangup_is_post_only(client):
    call = live_call()
    client.force_login(make_user("operator", permitted=True))
    assert client.get(f"/calls/{call.pk}/hangup/").status_code == 405


@pytest.mark.django_db
def test_hangup_while_the_channel_layer_is_down_says_so_and_records_nothing(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:9/0", "socket_timeout": None}]},  # nothing listens
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    call = live_call()
    client.force_login(make_user("operator", permitted=True, hangup=True))
    response = client.post(f"/calls/{call.pk}/hangup/", follow=True)
    assert response.redirect_chain == [(f"/calls/{call.pk}/live/", 302)]
    assert "Could not reach the server holding this call (the channel layer is down). Try again." in (
        response.content.decode()
    )
    assert CallEvent.objects.count() == 0

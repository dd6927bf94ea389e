"""Call setup never waits on the database: the call is read in one query when its socket connects, and the
stream's start is written beside the greeting, which goes out even while that write is held up."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from calls import records
from calls.models import Call, Turn
from calls.plivo.tokens import make_stream_token, stream_path
from streaming import journal
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.stream_checks import wait_closed
from tests.test_call_records import statements
from tests.test_engine_call import GREETING, connected_call, eventually
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ENGINE_FUNCTIONS = ("load_call", "load_history", "stream_started", "save_turn", "add_event", "heartbeat", "end_stream")


def count_records(monkeypatch) -> list[tuple[str, int]]:
    """Every calls.records function the engine calls, in order, with the SQL statements each ran (on its thread)."""
    done: list[tuple[str, int]] = []
    for name in ENGINE_FUNCTIONS:
        func = getattr(records, f"_{name}")

        def counted(*args, _func=func, _name=name, **kwargs):
            with CaptureQueriesContext(connection) as captured:
                try:
                    return _func(*args, **kwargs)
                finally:
                    done.append((_name, len(statements(captured))))

        monkeypatch.setattr(records, name, records.on_db_threads(counted))
    return done


def the_call() -> Call:
    return Call.objects.get(call_uuid="call-1")


def the_call_elsewhere() -> Call:
    """Read on a thread of its own (on SQLite the held write holds asgiref's one thread, like the engine's writes)."""
    try:
        return the_call()
    finally:
        connection.close()


async def test_the_greeting_goes_out_while_the_stream_start_write_is_held_up(scripted, monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(10), "the test never released the write"
        return records._stream_started(*args, **kwargs)

    monkeypatch.setattr(records, "stream_started", records.on_db_threads(held))
    try:
        caller = await connected_call()
        assert await asyncio.to_thread(entered.wait, 5)  # the write is running, and held
        await caller.wait_for(lambda: caller.events("playAudio"), timeout=5)
        call = await asyncio.to_thread(the_call_elsewhere)
        assert (call.stream_id, call.stream_started_at, call.heartbeat_at) == ("", None, None)
    finally:
        release.set()
    await eventually(lambda: the_call().stream_id == "stream-1")
    call = await sync_to_async(the_call)()
    assert call.stream_started_at is not None and call.heartbeat_at == call.stream_started_at
    assert call.stream_ended_at is None
    await caller.wait_for_checkpoints(1)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    await eventually(lambda: Turn.objects.filter(heard_text=GREETING).exists())
    await caller.hang_up()
    call = await sync_to_async(the_call)()
    assert call.stream_ended_at is not None and call.metrics["greeting_ms"] < 1000


async def test_connect_reads_the_call_in_one_query_and_a_call_costs_one_statement_per_write(scripted, monkeypatch):
    done = count_records(monkeypatch)
    await sync_to_async(make_agent)(greeting=GREETING)
    caller = PlivoCaller(await answer("call-1"), "call-1")
    assert (await caller.connect())[0]
    assert done == [("load_call", 1)]
    await caller.start()
    await caller.wait_for_checkpoints(1)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    await eventually(lambda: Turn.objects.filter(heard_text=GREETING).exists())
    await caller.hang_up()
    assert done == [("load_call", 1), ("stream_started", 1), ("save_turn", 1), ("end_stream", 1)]


async def test_unknown_and_ended_calls_are_refused_on_connect_after_one_query(scripted, monkeypatch):
    done = count_records(monkeypatch)
    communicator = WebsocketCommunicator(application, stream_path(make_stream_token("never-answered")))
    assert await communicator.connect() == (False, 4404)
    await sync_to_async(make_agent)()
    path = await answer("call-1")
    await sync_to_async(Call.objects.filter(call_uuid="call-1").update)(status="completed")
    assert await WebsocketCommunicator(application, path).connect() == (False, 4404)
    assert await WebsocketCommunicator(application, "/ws/plivo/garbage/").connect() == (False, 4403)
    assert done == [("load_call", 1), ("load_call", 1)]


async def test_a_call_that_ends_between_connect_and_start_is_closed_and_not_recorded(scripted):
    await sync_to_async(make_agent)()
    caller = PlivoCaller(await answer("call-1"), "call-1")
    assert (await caller.connect())[0]
    await sync_to_async(Call.objects.filter(call_uuid="call-1").update)(status="completed")
    await caller.start()
    assert await wait_closed(caller) == 4404
    await caller.hang_up()
    call = await sync_to_async(the_call)()
    assert (call.stream_id, call.stream_started_at, call.heartbeat_at) == ("", None, None)


async def test_a_reconnect_reads_its_history_in_one_more_query_and_does_not_greet_again(scripted, monkeypatch):
    caller = await connected_call()
    await caller.wait_for_checkpoints(1)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    await eventually(lambda: Turn.objects.filter(heard_text=GREETING).exists())
    await caller.hang_up()  # the stream drops; Plivo connects again for the same call
    done = count_records(monkeypatch)
    again = PlivoCaller(await answer("call-1"), "call-1", stream_id="stream-2")
    assert (await again.connect())[0]
    await again.start()
    await eventually(lambda: the_call().stream_id == "stream-2")
    assert done == [("load_call", 1), ("load_history", 1), ("stream_started", 1)]
    assert scripted.created[-1][1].conversations == []
    await asyncio.sleep(0.3)
    assert again.events("playAudio") == []
    await again.hang_up()
    call = await sync_to_async(the_call)()
    assert (call.stream_id, call.stream_ended_at is not None) == ("stream-2", True)


async def test_a_failed_stream_start_write_is_tried_again_while_the_call_goes_on(scripted, monkeypatch, caplog):
    failures = [OperationalError("connection pool exhausted")] * 2

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return records._stream_started(*args, **kwargs)

    monkeypatch.setattr(records, "stream_started", records.on_db_threads(flaky))
    monkeypatch.setattr(journal, "START_RETRIES_S", (0.05, 0.05, 0.05))
    caller = await connected_call()
    await caller.wait_for(lambda: caller.events("playAudio"))
    await eventually(lambda: the_call().stream_id == "stream-1")
    assert failures == []
    retry = "Call call-1: recording the stream's start failed (OperationalError('connection pool exhausted'))"
    assert [r.getMessage() for r in caplog.records if r.name == "streaming.journal"] == [
        f"{retry}; again in 0.05 s"
    ] * 2
    await caller.hang_up()
    assert (await sync_to_async(the_call)()).stream_ended_at is not None

"""calls.records, the live engine's database functions: what each costs in statements, what it leaves in the
database, and the pool of database threads they run on (a slow write never holds up another call's)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls import records
from calls.models import Call, Turn
from streaming.journal import Journal
from streaming.task_set import TaskSet
from tests.call_factories import T0, dental_agent, make_call
from tests.factories import make_agent

LIVE = {"status": Call.Status.IN_PROGRESS, "stream_started_at": None, "stream_ended_at": None, "ended_at": None}


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL statements run, without SQLite's explicit BEGIN / COMMIT (PostgreSQL's are not statements)."""
    return [q["sql"] for q in captured.captured_queries if q["sql"].split()[0] not in ("BEGIN", "COMMIT")]


def live_call(agent=None, uuid: str = "CA-live", **fields) -> Call:
    return make_call(agent or dental_agent(), call_uuid=uuid, turns=[], **{**LIVE, "metrics": {}, **fields})


# ---- loading a call: one query ----


@pytest.mark.django_db
def test_load_call_is_one_query_with_the_previous_summary_of_the_same_caller_and_agent():
    agent, other_agent = dental_agent(), make_agent("Other", number="+14155550199")
    caller = "+14155550111"
    earlier = [  # (agent, uuid, from, summary), a day apart
        (agent, "CA-old", caller, "Asked about prices."),
        (agent, "CA-last", caller, "Booked a cleaning."),
        (agent, "CA-unsummarized", caller, ""),
        (agent, "CA-someone-else", "+14155550122", "Not them."),
        (other_agent, "CA-other-agent", caller, "Elsewhere."),
    ]
    for day, (who, uuid, number, summary) in enumerate(earlier):
        make_call(who, call_uuid=uuid, from_number=number, summary=summary, created_at=T0 + timedelta(days=day))
    call = live_call(agent, from_number=caller, created_at=T0 + timedelta(days=5))
    make_call(agent, call_uuid="CA-later", from_number=caller, summary="A later call.", created_at=T0 + timedelta(6))

    with CaptureQueriesContext(connection) as captured:
        loaded = records._load_call("CA-live")
    assert len(statements(captured)) == 1
    assert (loaded.id, loaded.call_uuid, loaded.caller_number) == (call.pk, "CA-live", caller)
    assert loaded.previous_summary == "Booked a cleaning."
    assert (loaded.history, loaded.next_sequence, loaded.reconnect, loaded.stream_id) == ((), 0, False, "")
    assert (loaded.config.greeting, loaded.config.name) == (agent.greeting, agent.name)


@pytest.mark.django_db
def test_an_outbound_call_s_caller_is_the_number_called():
    agent = dental_agent()
    make_call(agent, call_uuid="CA-before", from_number="+14155550133", summary="Left a message.", created_at=T0)
    live_call(agent, direction=Call.Direction.OUTBOUND, to_number="+14155550133", created_at=T0 + timedelta(1))
    loaded = records._load_call("CA-live")
    assert (loaded.caller_number, loaded.previous_summary) == ("+14155550133", "Left a message.")


@pytest.mark.django_db
def test_unknown_ended_and_agentless_calls_are_not_live():
    agent = dental_agent()
    live_call(agent, "CA-done", status=Call.Status.COMPLETED)
    live_call(agent, "CA-no-agent", agent_snapshot={})
    for uuid in ("CA-never", "CA-done", "CA-no-agent"):
        with pytest.raises(records.CallNotLive), CaptureQueriesContext(connection) as captured:
            records._load_call(uuid)
        assert len(statements(captured)) == 1


@pytest.mark.django_db
def test_a_call_that_streamed_before_is_a_reconnect_and_its_history_is_one_more_query():
    call = make_call(dental_agent(), call_uuid="CA-again", **{**LIVE, "stream_started_at": T0}, stream_id="s-1")
    loaded = records._load_call("CA-again")
    assert (loaded.reconnect, loaded.stream_id, loaded.history) == (True, "s-1", ())
    with CaptureQueriesContext(connection) as captured:
        resumed = records._load_history(loaded)
    assert len(statements(captured)) == 1
    assert resumed.next_sequence == 7 and resumed.reconnect
    assert resumed.history[1:3] == (
        ("caller", "Hi, I'd like to book a cleaning for next week."),
        ("agent", "Sure, we have Tuesday at 10"),  # what the caller heard of the interrupted turn
    )
    assert resumed.id == call.pk


# ---- the stream's start: written late, never over a newer stream ----


def stream_row(call: Call) -> tuple:
    call.refresh_from_db()
    return call.stream_id, call.stream_started_at, call.stream_ended_at, call.heartbeat_at


@pytest.mark.django_db
def test_stream_started_records_the_stream_and_keeps_the_first_start():
    call = live_call()
    t1 = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        assert records._stream_started(call.pk, "s-1", t1) == "started"
    assert len(statements(captured)) == 1
    assert stream_row(call) == ("s-1", t1, None, t1)
    Call.objects.filter(pk=call.pk).update(stream_ended_at=t1)  # the first stream ended; a reconnect
    t2 = t1 + timedelta(seconds=5)
    assert records._stream_started(call.pk, "s-2", t2, replaces="s-1") == "started"
    assert stream_row(call) == ("s-2", t1, None, t2)


@pytest.mark.django_db
def test_a_late_stream_started_write_does_not_clobber_a_newer_stream():
    call = live_call()
    t1 = timezone.now()
    t2 = t1 + timedelta(seconds=2)
    assert records._stream_started(call.pk, "s-2", t2, replaces="s-1") == "started"
    assert records._stream_started(call.pk, "s-1", t1) == "superseded"  # the older stream's write, arriving late
    assert stream_row(call) == ("s-2", t2, None, t2)
    records._end_stream(call.pk, "s-1", "", {"a": 1})  # the older stream ending leaves the newer one open
    assert stream_row(call)[2] is None
    records._heartbeat(call.pk, "s-1")  # and does not beat for it
    assert stream_row(call)[3] == t2


@pytest.mark.django_db
def test_a_newer_stream_is_recorded_over_one_it_did_not_know_and_over_its_predecessor_s_late_beat():
    call = live_call()
    t1 = timezone.now()
    assert records._stream_started(call.pk, "s-1", t1) == "started"
    t3 = t1 + timedelta(seconds=3)
    assert records._stream_started(call.pk, "s-3", t3) == "started"  # s-1 started after s-3 loaded the call
    Call.objects.filter(pk=call.pk).update(heartbeat_at=t3 + timedelta(seconds=10))  # s-3 beat late
    assert records._stream_started(call.pk, "s-4", t3 + timedelta(seconds=5), replaces="s-3") == "started"
    assert stream_row(call)[0] == "s-4"


@pytest.mark.django_db
def test_stream_started_on_a_call_that_ended_meanwhile():
    call = live_call(status=Call.Status.COMPLETED)
    assert records._stream_started(call.pk, "s-1", timezone.now()) == "call-ended"
    assert stream_row(call) == ("", None, None, None)


# ---- turns: one statement ----


@pytest.mark.django_db
def test_a_turn_is_one_statement_and_so_is_its_update():
    call = live_call()
    with CaptureQueriesContext(connection) as captured:
        records._save_turn(call.pk, 1, "agent", "Hello there, how can I help?", start_ms=40, latency={"tts_ms": 9})
    assert [sql.split()[0] for sql in statements(captured)] == ["INSERT"]
    assert "ON CONFLICT" in statements(captured)[0]
    fields = ("role", "text", "start_ms", "end_ms", "interrupted", "heard_text", "latency", "usage", "resumed")
    assert list(Turn.objects.values_list(*fields)) == [
        ("agent", "Hello there, how can I help?", 40, None, False, "", {"tts_ms": 9}, {}, False)
    ]
    created = Turn.objects.get().created_at

    heard = {"end_ms": 900, "interrupted": True, "heard_text": "Hello there"}
    with CaptureQueriesContext(connection) as captured:
        records._save_turn(call.pk, 1, "agent", "Hello there, how can I help?", **heard)
    assert [sql.split()[0] for sql in statements(captured)] == ["INSERT"]
    assert list(Turn.objects.values_list(*fields, "created_at")) == [
        ("agent", "Hello there, how can I help?", 40, 900, True, "Hello there", {"tts_ms": 9}, {}, False, created)
    ]
    records._save_turn(call.pk, 2, "caller", "Is there parking?")
    assert list(Turn.objects.values_list("sequence", "role", "text")) == [
        (1, "agent", "Hello there, how can I help?"),
        (2, "caller", "Is there parking?"),
    ]


# ---- metrics: in memory, written with the heartbeat and once at the end ----


@pytest.mark.django_db(transaction=True)
async def test_metrics_are_merged_in_memory_and_written_with_the_heartbeat_and_once_at_the_end(monkeypatch):
    call = await sync_to_async(live_call)(metrics={"greeting_ms": 512.5, "from_an_earlier_stream": 1})
    await sync_to_async(records._stream_started)(call.pk, "s-1", timezone.now())
    writes: list[tuple[str, dict | None]] = []
    heartbeat, end_stream = records.heartbeat, records.end_stream

    async def counted_heartbeat(call_id, stream_id, metrics=None):
        writes.append(("heartbeat", metrics))
        await heartbeat(call_id, stream_id, metrics)

    async def counted_end(call_id, stream_id, recording_path, metrics=None):
        writes.append(("end", metrics))
        await end_stream(call_id, stream_id, recording_path, metrics)

    monkeypatch.setattr(records, "heartbeat", counted_heartbeat)
    monkeypatch.setattr(records, "end_stream", counted_end)
    tasks = TaskSet(call.call_uuid)
    journal = Journal(SimpleNamespace(id=call.pk, call_uuid=call.call_uuid, next_sequence=0), tasks, "s-1")

    for n in range(100):
        journal.metrics({"greeting_ms": 100 + n, f"value_{n % 3}": n})
    await tasks.wait(timeout=5)
    assert writes == []  # nothing written per value
    journal.heartbeat()
    await tasks.wait(timeout=5)
    merged = {"greeting_ms": 199, "value_0": 99, "value_1": 97, "value_2": 98}
    assert writes == [("heartbeat", merged)]
    metrics = (await Call.objects.aget(pk=call.pk)).metrics
    assert metrics == {**merged, "from_an_earlier_stream": 1}
    journal.heartbeat()  # nothing changed since: a bare heartbeat
    journal.metrics({"preemptive": {"hits": 2, "misses": 1}})
    await tasks.wait(timeout=5)
    await journal.close("s-1", "2025/03/04/CA-live.wav", {"bad_frames": 0, "frames_sent": 150})

    final = {**merged, "preemptive": {"hits": 2, "misses": 1}, "stream": {"bad_frames": 0, "frames_sent": 150}}
    assert writes == [("heartbeat", merged), ("heartbeat", None), ("end", final)]
    stored = await Call.objects.aget(pk=call.pk)
    assert stored.metrics == {**final, "from_an_earlier_stream": 1}
    assert (stored.recording_path, stored.stream_ended_at is not None) == ("2025/03/04/CA-live.wav", True)


@pytest.mark.django_db
def test_the_end_of_a_stream_and_a_heartbeat_with_metrics_are_one_statement_each():
    call = live_call(metrics={"kept": True})
    records._stream_started(call.pk, "s-1", timezone.now())
    with CaptureQueriesContext(connection) as captured:
        records._heartbeat(call.pk, "s-1", {"greeting_ms": 300})
    assert [sql.split()[0] for sql in statements(captured)] == ["UPDATE"]
    with CaptureQueriesContext(connection) as captured:
        records._end_stream(call.pk, "s-1", "x.wav", {"greeting_ms": 310, "stream": {"nested": {"a": None}}})
    assert [sql.split()[0] for sql in statements(captured)] == ["UPDATE"]
    call.refresh_from_db()
    assert call.metrics == {"kept": True, "greeting_ms": 310, "stream": {"nested": {"a": None}}}
    assert (call.recording_path, call.stream_ended_at is not None) == ("x.wav", True)


# ---- the database threads ----


@pytest.mark.django_db(transaction=True)
async def test_two_slow_writes_do_not_hold_up_a_third_call_s_write():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite keeps the engine's writes on asgiref's one thread (one writer at a time)")
    agent = await sync_to_async(dental_agent)()
    calls = [await sync_to_async(live_call)(agent, f"CA-{n}") for n in range(3)]
    release, entered = threading.Event(), threading.Semaphore(0)

    def slow_turn(call_id: int) -> None:
        entered.release()
        assert release.wait(10), "never released"
        records._save_turn(call_id, 1, "caller", "slow")

    slow = records.on_db_threads(slow_turn)
    blocked = [asyncio.ensure_future(slow(call.pk)) for call in calls[:2]]
    for _ in blocked:
        assert await asyncio.to_thread(entered.acquire, True, 5)  # both are running, each holding a thread
    await asyncio.wait_for(records.save_turn(calls[2].pk, 1, "caller", "quick"), timeout=3)
    assert [t.done() for t in blocked] == [False, False]
    assert [(t.call.call_uuid, t.text) async for t in Turn.objects.select_related("call")] == [("CA-2", "quick")]
    release.set()
    await asyncio.wait_for(asyncio.gather(*blocked), timeout=5)
    texts = [(t.call.call_uuid, t.text) async for t in Turn.objects.select_related("call").order_by("call__call_uuid")]
    assert texts == [("CA-0", "slow"), ("CA-1", "slow"), ("CA-2", "quick")]


@pytest.mark.django_db(transaction=True)
async def test_a_connecting_call_is_read_while_every_write_thread_is_busy(settings):
    """Plivo waits for the socket's handshake while ``load_call`` runs: it has threads of its own, and a backlog of
    other calls' writes (all ``DB_WRITE_THREADS`` held here) does not hold it up."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite keeps the engine's database work on asgiref's one thread (one writer at a time)")
    agent = await sync_to_async(dental_agent)()
    call = await sync_to_async(live_call)(agent, "CA-connecting")
    release, entered = threading.Event(), threading.Semaphore(0)

    def held_write() -> None:
        entered.release()
        assert release.wait(10), "never released"

    held = records.on_db_threads(held_write)
    writes = [asyncio.ensure_future(held()) for _ in range(settings.DB_WRITE_THREADS)]
    try:
        for _ in writes:
            assert await asyncio.to_thread(entered.acquire, True, 5)  # every write thread is taken
        loaded = await asyncio.wait_for(records.load_call("CA-connecting"), timeout=3)
        assert (loaded.id, loaded.call_uuid, loaded.reconnect) == (call.pk, "CA-connecting", False)
        assert [w.done() for w in writes] == [False] * settings.DB_WRITE_THREADS
    finally:
        release.set()
        await asyncio.wait_for(asyncio.gather(*writes), timeout=5)

"""Call takeover: a second socket for a live call replaces the first only with a valid ``start`` for that call;
the old socket is closed with 4409. Anything less (no start, a bad one) changes nothing for the live call."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from calls import live_control
from calls.models import Call, Turn
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.speech import synthesize_ulaw
from tests.stream_checks import assert_no_leaked_tasks, running_tasks, start_call, wait_closed

pytestmark = pytest.mark.django_db(transaction=True)
REPLACED = "replaced by a newer stream for this call"


def turns() -> list[tuple[str, str]]:
    return list(Turn.objects.order_by("sequence").values_list("role", "text"))


async def say(caller: PlivoCaller, text: str, checkpoints: int) -> None:
    await caller.send_audio(synthesize_ulaw(text))
    await caller.send_silence(400)
    await caller.wait_for_checkpoints(checkpoints)


async def intruder(stream_id: str) -> PlivoCaller:
    """A second socket for call-1 with a valid token (the answer URL was fetched again)."""
    second = PlivoCaller(await answer("call-1"), "call-1", stream_id=stream_id)
    assert (await second.connect())[0]
    return second


async def test_sockets_without_a_valid_start_do_not_take_the_call_over(scripted):
    scripted.transcripts = ["hello there"]
    scripted.replies = ["Hi!"]
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    caller = await start_call("call-1")
    silent = await intruder("stream-silent")  # connects, sends nothing
    garbage = await intruder("stream-garbage")
    await garbage.comm.send_to(text_data="{not json")
    await garbage.send({"event": "dtmf", "dtmf": {"digit": "1"}})  # before start: fatal for that socket only
    other_call = PlivoCaller(await answer("call-1"), "call-2", stream_id="stream-other")
    assert (await other_call.connect())[0]
    await other_call.start()  # a start for another call than its token's
    wrong_format = await intruder("stream-l16")
    start = {"event": "start", "start": {"callId": "call-1", "streamId": "stream-l16"}}
    start["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000}
    await wrong_format.send(start)
    assert await wait_closed(garbage) == 4400
    assert await wait_closed(other_call) == 4400
    assert other_call.closed_reason == "start.callId does not match the stream token"
    assert await wait_closed(wrong_format) == 4400
    assert wrong_format.closed_reason == "unsupported media format audio/x-l16"
    await say(caller, "Hello there", 1)  # the first call still answers, with its history
    assert (caller.closed_code, silent.closed_code) == (None, None)
    assert [m["streamId"] for m in caller.events("checkpoint")] == ["stream-1"]
    for socket in (silent, garbage, other_call, wrong_format):
        assert socket.events("playAudio") == []
        await socket.hang_up()
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    call = await sync_to_async(Call.objects.get)()
    assert call.stream_id == "stream-1"
    assert await sync_to_async(turns)() == [("caller", "hello there"), ("agent", "Hi!")]


async def test_a_valid_start_takes_over_and_the_old_socket_gets_4409(scripted):
    scripted.transcripts = ["first words"]
    scripted.replies = ["One."]
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    caller = await start_call("call-1")
    await say(caller, "First words", 1)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    second = await intruder("stream-2")
    assert caller.closed_code is None  # connecting alone takes nothing over
    scripted.transcripts, scripted.replies = ["second words"], ["Two."]  # the new stream's providers
    await second.start()
    assert await wait_closed(caller) == 4409
    assert caller.closed_reason == REPLACED
    await say(second, "Second words", 1)  # the new socket carries the call on, with its history
    assert [m["streamId"] for m in second.events("checkpoint")] == ["stream-2"]
    history = [(m.role, m.text) for m in scripted.created[1][1].conversations[-1].messages]
    assert history[:2] == [("caller", "first words"), ("agent", "One.")]
    await second.hang_up()
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    call = await sync_to_async(Call.objects.get)()
    assert (call.stream_id, call.stream_ended_at is not None) == ("stream-2", True)
    assert await sync_to_async(turns)() == [
        ("caller", "first words"),
        ("agent", "One."),
        ("caller", "second words"),
        ("agent", "Two."),
    ]


async def test_a_replace_from_another_process_closes_the_socket_with_4409(scripted):
    await sync_to_async(make_agent)()
    caller = await start_call("call-1")
    await caller.wait_for(lambda: caller.events("playAudio"))
    assert await live_control.send_control("call-1", "replace", sender="a-socket-on-another-server") is True
    assert await wait_closed(caller) == 4409
    assert caller.closed_reason == REPLACED
    await caller.hang_up()

"""Barge-in, backchannels, DTMF, provider failures and ending, through the consumer with scripted providers."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import CallEvent, Turn
from streaming.providers.base import ProviderError
from tests.fakes.plivo_api import FakePlivoApi
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, db_turns, eventually, turns

pytestmark = pytest.mark.django_db(transaction=True)
LONG_REPLY = "Our opening hours are nine to five on weekdays, and ten to two on Saturdays. We are closed on Sundays."


def events(kind: str) -> list[dict]:
    return list(CallEvent.objects.filter(kind=kind).values_list("data", flat=True))


async def answered_with_reply(scripted, transcripts: list[str], **agent) -> object:
    scripted.transcripts = transcripts
    caller = await connected_call(greeting="", **agent)
    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(300)
    await caller.wait_for(lambda: len(caller.events("playAudio")) > 20)
    return caller


async def test_barge_in_clears_audio_and_records_what_was_heard(scripted):
    scripted.replies = [LONG_REPLY, "Sure."]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, ["What are your opening hours?", "Wait, what about Sunday"])
    await caller.send_audio(synthesize_ulaw("Wait what about Sunday?"))
    await caller.wait_for(lambda: caller.events("clearAudio"))
    assert caller.events("clearAudio") == [{"event": "clearAudio", "streamId": "stream-1"}]
    await caller.send_silence(400)
    await eventually(lambda: len(turns()) >= 3)
    agent_turn = await sync_to_async(Turn.objects.get)(sequence=2)
    assert agent_turn.interrupted and agent_turn.text == LONG_REPLY
    assert agent_turn.heard_text and LONG_REPLY.startswith(agent_turn.heard_text)
    assert len(agent_turn.heard_text) < len(LONG_REPLY)
    barge_in = (await sync_to_async(events)("barge-in"))[0]
    assert barge_in["heard_text"] == agent_turn.heard_text and barge_in["reaction_ms"] > 0
    await eventually(lambda: [t[:2] for t in turns()][2] == ("caller", "Wait, what about Sunday"))
    llm = scripted.llm
    await caller.wait_for(lambda: len(llm.conversations) == 2)
    assert [(m.role, m.text) for m in llm.conversations[1].messages] == [
        ("caller", "What are your opening hours?"),
        ("agent", agent_turn.heard_text),
        ("caller", "Wait, what about Sunday"),
    ]
    await caller.hang_up()


async def test_a_caller_who_hangs_up_mid_reply_leaves_the_part_they_heard(scripted):
    scripted.replies = [LONG_REPLY]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, ["What are your opening hours?"])
    await caller.hang_up()  # Plivo closes the stream: no clearAudio, no checkpoint for the reply
    await eventually(lambda: len(turns()) == 2 and turns()[1][3])
    agent_turn = await sync_to_async(Turn.objects.get)(sequence=2)
    assert agent_turn.interrupted and agent_turn.text == LONG_REPLY
    assert agent_turn.heard_text and LONG_REPLY.startswith(agent_turn.heard_text)
    assert len(agent_turn.heard_text) < len(LONG_REPLY)
    assert caller.events("clearAudio") == []


async def test_barge_in_off_lets_the_agent_finish(scripted):
    scripted.replies = [LONG_REPLY, "About Sunday: closed."]
    scripted.ms_per_char = 20
    caller = await answered_with_reply(
        scripted, ["What are your opening hours?", "what about Sunday"], barge_in_enabled=False
    )
    await caller.send_audio(synthesize_ulaw("Wait what about Sunday?"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(2, timeout=20)
    assert caller.events("clearAudio") == []
    await eventually(lambda: len(turns()) == 4 and turns()[3][2] != "")
    assert [t[:2] for t in await db_turns()] == [
        ("caller", "What are your opening hours?"),
        ("agent", LONG_REPLY),
        ("caller", "what about Sunday"),
        ("agent", "About Sunday: closed."),
    ]
    await caller.hang_up()


async def test_dtmf_is_stored_and_given_to_the_reply(scripted):
    scripted.replies = ["You chose sales."]
    caller = await connected_call(greeting="")
    await caller.send(
        {
            "event": "dtmf",
            "streamId": "stream-1",
            "dtmf": {"track": "inbound", "digit": "5", "timestamp": "1705312200000"},
        }
    )
    await caller.wait_for_checkpoints(1)
    assert await sync_to_async(events)("dtmf") == [{"digit": "5"}]
    assert [(m.role, m.text) for m in scripted.llm.conversations[0].messages] == [("caller", "(The caller pressed 5.)")]
    await caller.hang_up()


async def test_the_agents_own_fallback_line_is_spoken(scripted):
    scripted.replies = [ProviderError("upstream 500", provider="scripted-llm")]
    scripted.transcripts = ["hours please"]
    caller = await connected_call(greeting="", fallback_line="Pardon? One more time, please.")
    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(1, timeout=10)
    await eventually(lambda: len(turns()) == 2)
    assert [t[:2] for t in await db_turns()] == [
        ("caller", "hours please"),
        ("agent", "Pardon? One more time, please."),
    ]
    await caller.hang_up()


async def test_llm_failure_speaks_the_fallback_and_the_call_goes_on(scripted):
    scripted.replies = [ProviderError("upstream 500", provider="scripted-llm"), "Nine to five."]
    scripted.transcripts = ["hours please", "hours please"]
    caller = await connected_call(greeting="")
    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(1, timeout=10)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=10)
    errors = await sync_to_async(events)("error")
    assert errors == [{"provider": "scripted-llm", "message": "upstream 500", "permanent": False}]
    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(2, timeout=10)
    await eventually(lambda: len(turns()) == 4 and turns()[3][2] != "")
    assert [t[:2] for t in await db_turns()] == [
        ("caller", "hours please"),
        ("agent", "Sorry, I didn't catch that — could you say it again?"),
        ("caller", "hours please"),
        ("agent", "Nine to five."),
    ]
    await caller.hang_up()


async def test_end_call_phrase_says_goodbye_and_hangs_up_through_the_rest_api(scripted, settings):
    scripted.transcripts = ["ok goodbye"]
    with FakePlivoApi() as plivo_api:
        caller = await connected_call(greeting="", goodbye_message="Bye now!")
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = plivo_api.auth_id, plivo_api.auth_token
        settings.PLIVO_API_URL = plivo_api.url
        await caller.send_audio(synthesize_ulaw("Okay, goodbye."))
        await caller.send_silence(300)
        await caller.wait_for(lambda: caller.closed_code is not None, timeout=10)
        assert caller.events("checkpoint") and not caller.playout.checkpoints  # the goodbye played first
        assert [(r["method"], r["path"]) for r in plivo_api.requests] == [
            ("DELETE", f"/v1/Account/{plivo_api.auth_id}/Call/call-1/")
        ]
    assert await sync_to_async(events)("hangup") == [{"reason": "agent ended the call", "result": "hung-up"}]
    assert [t[:3] for t in await db_turns()] == [("caller", "ok goodbye", ""), ("agent", "Bye now!", "Bye now!")]
    await caller.hang_up()


async def test_silence_reprompts_then_hangs_up(scripted):
    caller = await connected_call(greeting="", silence_timeout_seconds=2, max_reprompts=1, reprompt_text="Still there?")
    await caller.wait_for(lambda: caller.closed_code is not None, timeout=15)
    assert {"Still there?", "Thank you for calling. Goodbye!"} <= set(scripted.tts.spoken)
    await eventually(lambda: len(turns()) == 2)
    assert [t[:3] for t in await db_turns()] == [
        ("agent", "Still there?", "Still there?"),
        ("agent", "Thank you for calling. Goodbye!", "Thank you for calling. Goodbye!"),
    ]
    assert await sync_to_async(events)("hangup") == [{"reason": "agent ended the call", "result": "stream-closed"}]
    await caller.hang_up()


async def test_operator_hangup_over_the_channel_layer(scripted):
    from calls.live_control import send_control

    caller = await connected_call()
    await caller.wait_for(lambda: caller.events("playAudio"))
    await send_control("call-1", "hangup")
    await caller.wait_for(lambda: caller.closed_code is not None, timeout=5)
    assert await sync_to_async(events)("hangup") == [{"reason": "operator", "result": "stream-closed"}]
    await asyncio.sleep(0)
    await caller.hang_up()

"""Latency for every agent turn: an interrupted reply keeps what it measured, fixed lines (greeting, goodbye) have
their own record, and the call page, list and dashboard count them (issue 18)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from calls.models import Call, Turn
from calls.ui.stats import dashboard
from calls.ui.timeline import latency_rows
from tests.call_factories import T0, dental_agent, make_call
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, eventually, turns
from tests.test_engine_turn_taking import LONG_REPLY, answered_with_reply

GREETING = {"line": "greeting", "tts_ms": 40, "send_ms": 5, "line_ms": 45}
REPLY_STAGES = {"stt_ms", "llm_ms", "tts_ms", "send_ms", "voice_to_voice_ms"}


def latency_of(sequence: int) -> dict:
    return Turn.objects.get(call__call_uuid="call-1", sequence=sequence).latency


@pytest.mark.django_db(transaction=True)
async def test_an_interrupted_reply_keeps_its_latency(scripted):
    scripted.replies = [LONG_REPLY, "Sure."]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, ["What are your opening hours?", "Wait, what about Sunday"])
    await caller.send_audio(synthesize_ulaw("Wait what about Sunday?"))
    await caller.wait_for(lambda: caller.events("clearAudio"))
    await caller.send_silence(400)
    await eventually(lambda: len(turns()) >= 3)
    reply = await sync_to_async(Turn.objects.get)(call__call_uuid="call-1", sequence=2)
    assert reply.interrupted
    assert set(reply.latency) == REPLY_STAGES
    assert all(value >= 0 for value in reply.latency.values())
    assert reply.latency["voice_to_voice_ms"] >= reply.latency["llm_ms"] >= 30  # the scripted LLM's delay
    await caller.hang_up()


@pytest.mark.django_db(transaction=True)
async def test_the_greeting_has_a_line_latency(scripted):
    caller = await connected_call(greeting="Hello, dental office.")
    await caller.wait_for_checkpoints(1)
    await caller.send_silence(100)
    await eventually(lambda: len(turns()) == 1)
    latency = await sync_to_async(latency_of)(1)
    assert set(latency) == {"line", "cached", "tts_ms", "send_ms", "line_ms"}
    assert (latency["line"], latency["cached"]) == ("greeting", False)  # no speech store in tests: synthesized
    assert latency["line_ms"] == pytest.approx(latency["tts_ms"] + latency["send_ms"], abs=0.2)
    assert 0 <= latency["line_ms"] < 1000
    await caller.hang_up()


@pytest.mark.django_db(transaction=True)
async def test_the_goodbye_has_a_line_latency(scripted):
    scripted.transcripts = ["ok goodbye"]
    caller = await connected_call(greeting="", goodbye_message="Bye now!")
    await caller.send_audio(synthesize_ulaw("Okay, goodbye."))
    await caller.send_silence(300)
    await caller.wait_for(lambda: caller.closed_code is not None, timeout=10)
    await eventually(lambda: len(turns()) == 2)
    goodbye = await sync_to_async(latency_of)(2)
    assert goodbye["line"] == "goodbye" and goodbye["line_ms"] >= 0
    await caller.hang_up()


@pytest.mark.django_db
def test_waterfall_rows_name_every_agent_turn_like_the_simulator():
    reply = {"stt_ms": 300, "llm_ms": 400, "tts_ms": 100, "send_ms": 20, "voice_to_voice_ms": 820}
    call = make_call(
        dental_agent(),
        turns=[
            (
                "agent",
                "Hello!",
                0,
                900,
                False,
                "Hello!",
                {"line": "greeting", "tts_ms": 40, "send_ms": 5, "line_ms": 45},
            ),
            ("caller", "Hours?", 1000, 1800, False, "", {}),
            ("agent", "Nine to five, every", 2600, 3000, True, "Nine to", reply),
            ("caller", "Sunday?", 3000, 3800, False, "", {}),
            ("agent", "Closed.", 4600, 5200, False, "Closed.", reply),
        ],
    )
    labels = [label for label, _ in latency_rows(call)]
    assert labels == ["greeting 00:00.0", "turn 1 cut 00:02.6", "turn 2 00:04.6"]


@pytest.mark.django_db
def test_the_dashboard_counts_interrupted_replies_and_lines():
    reply = {"voice_to_voice_ms": 800}
    make_call(
        dental_agent(),
        turns=[
            ("agent", "Hello!", 0, 900, False, "Hello!", {"line": "greeting", "line_ms": 45}),
            ("caller", "Hours?", 1000, 1800, False, "", {}),
            ("agent", "Nine to five", 2600, 3000, True, "Nine", {"voice_to_voice_ms": 600}),
            ("agent", "Closed.", 4600, 5200, False, "Closed.", reply),
        ],
    )
    stats = dashboard(7, today=timezone.localtime(T0).date())
    assert (stats.replies_measured, stats.lines_measured) == (2, 1)
    assert stats.agents[0].v2v_p50 == 700.0
    assert Call.objects.count() == 1

"""Time to the fallback line when the language model hangs, per fault mode (RELIABILITY.md). Not part of `make test`:

    .venv/bin/python -m pytest bench/fallback_probe_tests.py -q -s      # prints p50/p95 per fault mode

Whole calls through the consumer with the real OpenAI and Azure Speech SDKs against the wire fakes, default
deadlines (REPLY_DEADLINE_MS, LLM_STALL_MS). The delay runs from the caller's last frame with speech (known from the
audio sent) to the fallback turn's stored play start, both on the call's stream clock (20 ms per caller frame).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from calls.models import Turn
from streaming.simulator.audio_source import caller_audio
from tests.conftest import azure_fake, local_services, openai_fake  # noqa: F401 - fixtures
from tests.fakes.openai_server import ChatScript
from tests.test_engine_call import connected_call, eventually
from tests.test_engine_wire_providers import ANSWER, FALLBACK, QUESTION

pytestmark = pytest.mark.django_db(transaction=True)
RESULTS = Path(__file__).parent / "results" / "fallback.json"
REPEATS = 10
HANG_S = 10.0
MODES = {
    "hang before headers": ChatScript(content=ANSWER, headers_delay=HANG_S),
    "hang after headers": ChatScript(content=ANSWER, first_token_delay=HANG_S),
    "stall mid-sentence": ChatScript(content=ANSWER, stall_after_chunks=3, stall_seconds=HANG_S),
}
measured: dict[str, list[int]] = {}


def stored() -> list[tuple[str, int, int]]:
    return list(Turn.objects.order_by("sequence").values_list("text", "start_ms", "end_ms"))


@pytest.mark.parametrize("attempt", range(REPEATS))
@pytest.mark.parametrize("mode", MODES)
async def test_time_to_fallback(azure_fake, openai_fake, mode, attempt):  # noqa: F811
    azure_fake.script_stt(QUESTION)
    openai_fake.script(MODES[mode])
    question = caller_audio(QUESTION)  # knows its last frame with speech (``end_frame``)
    caller = await connected_call(greeting="", end_of_speech_ms=500)
    speech_end = (caller.chunk + question.end_frame) * 20  # on the call's stream clock: 20 ms per frame sent
    await caller.send_audio(question.ulaw)
    await caller.send_silence(900)
    await caller.wait_for_checkpoints(1, timeout=20)
    await eventually(lambda: len(stored()) == 2)
    (_, (text, play_start, _)) = await sync_to_async(stored)()
    assert text == FALLBACK
    measured.setdefault(mode, []).append(play_start - speech_end)
    await caller.hang_up()


def teardown_module() -> None:
    summary = {
        mode: {"n": len(ms), "p50_ms": statistics.median(ms), "p95_ms": sorted(ms)[max(0, round(0.95 * len(ms)) - 1)]}
        for mode, ms in measured.items()
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "raw": measured}, indent=2))
    print("\n" + json.dumps(summary, indent=2))

"""Hostile frames on the stream socket: refused cheaply by the codec, counted, and never the end of a call; a
failure of ours ends the call cleanly (4500) with every task finished and the offline decoder given back."""

from __future__ import annotations

import base64
import json

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, Turn
from streaming import plivo
from streaming.listener import Listener
from streaming.plivo import CodecError
from streaming.providers.offline.sphinx_pool import RecognizerPool
from streaming.providers.offline.stt import PocketsphinxSTT
from streaming.runner import CallRunner
from tests import engine_support
from tests.factories import add_faq, make_agent
from tests.speech import silence_ulaw, synthesize_ulaw
from tests.stream_checks import assert_no_leaked_tasks, running_tasks, start_call, wait_closed
from tests.test_engine_call import eventually

SILENCE = base64.b64encode(silence_ulaw(20)).decode()
NUMBERS = ("Infinity", "-Infinity", "NaN", "1e400", "-1e400", '"1e400"', '"Infinity"', '"NaN"', "1" + "0" * 30)


def media_with(field: str, value: str) -> str:
    """A media frame whose ``field`` (sequenceNumber, chunk or timestamp) is the raw JSON ``value``."""
    if field == "sequenceNumber":
        return f'{{"event":"media","sequenceNumber":{value},"media":{{"payload":"{SILENCE}"}}}}'
    return f'{{"event":"media","media":{{"payload":"{SILENCE}","{field}":{value}}}}}'


MANY = "frame has more than 32 objects and arrays"
# (id, frame, the CodecError message it gets): every one of them is a bad frame, counted, and the call goes on
BAD = [
    ("deep object", '{"a":' * 1000 + "1" + "}" * 1000, MANY),
    ("deep array", "[" * 1000 + "]" * 1000, MANY),
    ("deep inside media", media_with("chunk", "[" * 60_000 + "]" * 60_000), MANY),
    ("many flat arrays", media_with("chunk", "[" + "[]," * 40_000 + "[]]"), MANY),
    ("deep chunk", media_with("chunk", "[" * 20 + "]" * 20), "frame nests deeper than 8 levels"),
    ("deep binary", ("[" * 2000 + "]" * 2000).encode(), MANY),
    ("deep binary, few brackets", ("[" * 12 + "]" * 12).encode(), "frame nests deeper than 8 levels"),
    *(
        (f"{value} in {field}", media_with(field, value), "" if "Inf" in value or "NaN" in value else field)
        for field in ("sequenceNumber", "chunk", "timestamp")
        for value in NUMBERS
    ),
    ("binary garbage", b"\xff\xfe\x00garbage", "frame is not JSON"),
    ("huge text", "x" * 200_000, "frame is over 131072 characters"),
    ("huge binary", b"{" + b" " * 200_000 + b"}", "frame is over 131072 characters"),
    ("huge dtmf digit", json.dumps({"event": "dtmf", "dtmf": {"digit": "9" * 100_000}}), "got '99999"),
    ("empty", "", "frame is not JSON"),
    ("nul bytes", "\x00" * 100, "frame is not JSON"),
    ("lone surrogate", '{"event":"media","media":{"payload":"\\ud800"}}', "not valid base64"),
]
UNKNOWN = [json.dumps({"event": "e" * 120_000}), json.dumps({"event": "media2", "x": [[[1]]]})]
BURST = json.dumps({"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 65536).decode()}})


@pytest.mark.parametrize(("frame", "message"), [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_each_hostile_frame_is_a_non_fatal_codec_error(frame, message):
    with pytest.raises(CodecError) as raised:
        plivo.parse(frame, started=True)
    assert raised.value.fatal is False
    assert message in str(raised.value)
    assert len(str(raised.value)) < 120  # a refused value is shown cut short in the log


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_json_constants_are_refused_by_name(value):
    with pytest.raises(CodecError, match=f"frame has a non-finite number \\({value}\\)"):
        plivo.parse(media_with("timestamp", value), started=True)


def test_numbers_at_the_edge_of_the_range_are_accepted():
    frame = media_with("timestamp", f'"{2**53}"')
    assert plivo.parse(frame, started=True).timestamp_ms == 2**53
    assert plivo.parse(media_with("chunk", "7.9"), started=True).chunk == 7


def test_nesting_up_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count():
    at_limit = media_with("chunk", "[" * 6 + "1" + "]" * 6)  # the frame's object + media object + 6 arrays = 8
    with pytest.raises(CodecError, match="chunk must be a number, got \\[\\[\\["):
        plivo.parse(at_limit, started=True)
    with pytest.raises(CodecError, match="frame nests deeper than 8 levels"):
        plivo.parse(media_with("chunk", "[" * 7 + "1" + "]" * 7), started=True)
    in_string = media_with("chunk", '"\\"\\\\' + "[{" * 10 + '"')  # "\"\\[{[{...": escapes do not end it
    with pytest.raises(CodecError) as raised:
        plivo.parse(in_string, started=True)
    assert str(raised.value) == "chunk must be a number, got " + repr('"\\' + "[{" * 10)
    deeper_in_string = media_with("chunk", '"\\\\"' + "[" * 9 + "1" + "]" * 9)  # "\\" ends the string: 11 deep
    with pytest.raises(CodecError, match="frame nests deeper than 8 levels"):
        plivo.parse(deeper_in_string, started=True)


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_hostile_frames_into_a_live_call_are_counted_and_it_goes_on(scripted):
    scripted.transcripts = ["hello there"]
    scripted.replies = ["Hi!"]
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    caller = await start_call("call-1")
    for _, frame, _ in BAD:  # as the ASGI server hands frames over (send_to refuses an empty one)
        key = "bytes" if isinstance(frame, bytes) else "text"
        await caller.comm.send_input({"type": "websocket.receive", key: frame})
    for frame in UNKNOWN:
        await caller.comm.send_to(text_data=frame)
    await caller.comm.send_to(text_data=BURST)  # 8 s of audio at once: dropped by the flood guard, not fatal
    await caller.send_audio(synthesize_ulaw("Hello there"))
    await caller.send_silence(400)
    await caller.wait_for_checkpoints(1)
    assert caller.closed_code is None
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    call = await sync_to_async(Call.objects.get)()
    stream = call.metrics["stream"]
    assert (stream["bad_frames"], stream["unknown_events"], stream["flood_dropped_frames"]) == (len(BAD), 2, 1)
    turns = await sync_to_async(lambda: list(Turn.objects.order_by("sequence").values_list("role", "text")))()
    assert turns == [("caller", "hello there"), ("agent", "Hi!")]


@pytestmark_db
async def test_hostile_frames_before_start_wait_for_start_and_audio_before_start_is_4400(scripted):
    await sync_to_async(make_agent)()
    baseline = running_tasks()
    from tests.plivo_caller import PlivoCaller, answer

    caller = PlivoCaller(await answer("call-1"), "call-1")
    assert (await caller.connect())[0]
    for _, frame, _ in BAD[:4]:
        await caller.comm.send_to(text_data=frame)
    await caller.comm.send_to(text_data=media_with("chunk", "1"))
    assert await wait_closed(caller) == 4400
    assert caller.closed_reason == "'media' before 'start': the first frame must be 'start'"
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)


# ---- containment: a failure of ours ends the call cleanly ----
POOLS: list[RecognizerPool] = []


def offline_stt_factory(config):
    """The real offline STT (on the test's small decoder pool) with the scripted LLM and TTS."""
    _, llm, tts = engine_support.CURRENT[-1](config)
    return PocketsphinxSTT(config, pool=POOLS[-1]), llm, tts


@pytest.fixture
def offline_stt(scripted, settings):
    POOLS.append(RecognizerPool(max_size=2))
    settings.VOICE_PROVIDER_FACTORY = "tests.test_hostile_frames.offline_stt_factory"
    yield POOLS[-1]
    POOLS.pop()


def crash_on_dtmf(monkeypatch) -> None:
    """The consumer's hand-off raises on DTMF 9 (a bug of ours, as the OverflowError of a 1e400 timestamp was)."""
    handle = CallRunner.handle

    def failing(self, event):
        if isinstance(event, plivo.Dtmf) and event.digit == "9":
            raise RuntimeError("injected failure")
        handle(self, event)

    monkeypatch.setattr(CallRunner, "handle", failing)


@pytestmark_db
@pytest.mark.timeout(120)
async def test_crashes_mid_speech_give_the_decoder_back_and_later_calls_still_hear(offline_stt, scripted, monkeypatch):
    scripted.replies = ["Nine to five."]
    agent = await sync_to_async(make_agent)(greeting="")
    await sync_to_async(add_faq)(agent, "What are your opening hours?", "hours open", "Nine to five.")
    crash_on_dtmf(monkeypatch)
    baseline = running_tasks()
    for index in range(offline_stt.max_size + 2):  # more crashes than the pool has decoders
        caller = await start_call(f"crash-{index}")
        await caller.send_audio(silence_ulaw(300) + synthesize_ulaw("What are your opening hours?")[:8000])
        await caller.wait_for(lambda: offline_stt.busy == 1)  # mid-utterance: a decoder is checked out
        await caller.send({"event": "dtmf", "dtmf": {"digit": "9"}})
        assert await wait_closed(caller) == 4500
        assert caller.closed_reason == "internal error"
        await caller.hang_up()
        await assert_no_leaked_tasks(baseline)
        assert offline_stt.busy == 0
    caller = await start_call("after-crashes")
    await caller.send_audio(silence_ulaw(300) + synthesize_ulaw("What are your opening hours?") + silence_ulaw(900))
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    assert (offline_stt.busy, offline_stt.idle) == (0, 1)
    texts = await sync_to_async(lambda: list(Turn.objects.values_list("call__call_uuid", "role", "text")))()
    assert texts == [
        ("after-crashes", "caller", "what are your opening hours"),
        ("after-crashes", "agent", "Nine to five."),
    ]
    ended = await sync_to_async(lambda: Call.objects.filter(stream_ended_at__isnull=False).count())()
    assert ended == offline_stt.max_size + 3


@pytestmark_db
async def test_a_failing_call_task_ends_the_call_with_4500(scripted, monkeypatch):
    process = Listener._process_frame

    def failing(self, frame):
        if self.caller_ms >= 200:
            raise RuntimeError("injected failure in the audio task")
        process(self, frame)

    monkeypatch.setattr(Listener, "_process_frame", failing)
    await sync_to_async(make_agent)()
    baseline = running_tasks()
    caller = await start_call("call-1")
    assert await wait_closed(caller) == 4500
    assert caller.closed_reason == "internal error (RuntimeError)"
    # the runner stops at once, before the server reports the socket gone: the stream's record is closed
    await eventually(lambda: Call.objects.filter(stream_ended_at__isnull=False).exists())
    call = await sync_to_async(Call.objects.get)()
    assert call.metrics["stream"]["frames_in"] >= 10
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)

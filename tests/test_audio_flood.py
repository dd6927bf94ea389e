"""Caller audio against real time: Plivo's 20 ms frames (jitter, catch-up after a hiccup) always pass; a burst
ahead of real time beyond 1 s is dropped and counted; a sustained flood (> 10 s ahead) ends the stream with 4429."""

from __future__ import annotations

import functools
import logging
import random

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from streaming.inbound import Admit, FloodGuard
from streaming.simulator import wire
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.speech import silence_ulaw
from tests.stream_checks import assert_no_leaked_tasks, running_tasks, wait_closed

FRAME = 160  # bytes: 20 ms of μ-law


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock) -> FloodGuard:
    return FloodGuard(clock.now, clock=clock)


def test_real_time_frames_with_jitter_and_catch_up_after_hiccups_are_never_dropped():
    clock, rng = Clock(), random.Random(7)
    flood = guard(clock)
    verdicts, start = [], clock.now
    for index in range(15_000):  # 5 minutes of frames
        due = start + 0.02 * (index + 1)  # a frame is sent once its 20 ms have been spoken
        late = 2.0 if index % 3000 == 1500 else rng.uniform(0, 0.03)  # jitter, and a 2 s hiccup now and then
        clock.now = max(clock.now, due + late)
        verdicts.append(flood.admit(FRAME))
    assert set(verdicts) == {Admit.ACCEPT}


def test_frames_just_above_real_time_are_accepted():
    clock = Clock()
    flood = guard(clock)
    verdicts = []
    for _ in range(2000):  # 40 s of audio at 1.02x real time: 0.8 s ahead at the end
        verdicts.append(flood.admit(FRAME))
        clock.now += 0.02 / 1.02
    assert set(verdicts) == {Admit.ACCEPT}


def test_a_burst_is_accepted_up_to_one_second_ahead_then_dropped():
    clock = Clock()
    flood = guard(clock)
    verdicts = [flood.admit(FRAME) for _ in range(250)]  # 5 s of audio at once
    assert verdicts == [Admit.ACCEPT] * 50 + [Admit.DROP] * 200
    clock.now += 0.5  # real time goes on: half a second more is accepted
    assert [flood.admit(FRAME) for _ in range(26)] == [Admit.ACCEPT] * 25 + [Admit.DROP]


def test_a_sustained_flood_is_reported_once_over_ten_seconds_ahead():
    clock = Clock()
    flood, start = guard(clock), clock.now
    verdicts = []
    for index in range(1, 2000):  # 3x real time: frame n comes (n - 1) × 20/3 ms after the first
        verdicts.append(flood.admit(FRAME))
        clock.now = start + index * 0.02 / 3
        if verdicts[-1] is Admit.FLOOD:
            break
    # frame n: offered 20n ms, elapsed 20(n-1)/3 ms; ahead > 10 s first at n = 750
    assert len(verdicts) == 750 and verdicts[-1] is Admit.FLOOD and Admit.FLOOD not in verdicts[:-1]
    # accepted audio stays within 1 s of real time: 299 frames (5,980 ms) by 4,993 ms
    assert verdicts.count(Admit.ACCEPT) == 299
    assert flood.ahead_ms() == 15_000 - 5_000


# ---- through the socket, on a clock frozen at the moment it opened ----
@pytest.fixture
def frozen_clock(monkeypatch):
    """Real time stands still for the flood guard (not for the event loop): every frame is 'at once'."""

    def frozen(opened_at: float, **kwargs) -> FloodGuard:
        return FloodGuard(opened_at, clock=lambda: opened_at, **kwargs)

    monkeypatch.setattr("streaming.inbound.FloodGuard", functools.partial(frozen))


async def started_without_pump(call_uuid: str = "call-1") -> PlivoCaller:
    caller = PlivoCaller(await answer(call_uuid), call_uuid)
    assert (await caller.connect())[0]
    await caller.send(wire.start_message(call_uuid, caller.stream_id, "MA123"))
    return caller


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_five_seconds_at_once_is_partly_dropped_and_counted(scripted, frozen_clock):
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    caller = await started_without_pump()
    for _ in range(250):
        await caller.send_frame(silence_ulaw(20))
    await caller.send({"event": "dtmf", "dtmf": {"digit": "5"}})  # the call goes on
    await caller.wait_for(lambda: scripted.created and scripted.created[0][0].fed_bytes == 50 * FRAME)
    assert caller.closed_code is None
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    call = await sync_to_async(Call.objects.get)()
    stream = call.metrics["stream"]
    assert (stream["frames_in"], stream["flood_dropped_frames"], stream["bad_frames"]) == (250, 200, 0)
    assert scripted.created[0][0].fed_bytes == 50 * FRAME


@pytestmark_db
async def test_a_sustained_flood_ends_the_stream_with_4429(scripted, frozen_clock, caplog):
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    caller = await started_without_pump()
    with caplog.at_level(logging.WARNING, logger="streaming.runner"):
        for _ in range(600):
            await caller.send_frame(silence_ulaw(20))
        assert await wait_closed(caller) == 4429
    assert caller.closed_reason == "caller audio flood: over 10 s of audio ahead of real time"
    assert "Call call-1: ending the stream with 4429: caller audio flood" in caplog.text
    await caller.hang_up()
    await assert_no_leaked_tasks(baseline)
    call = await sync_to_async(Call.objects.get)()
    assert call.stream_ended_at is not None
    # frame 501 is 10,020 ms ahead: the flood; frames after it are not looked at
    stream = call.metrics["stream"]
    assert (stream["frames_in"], stream["flood_dropped_frames"]) == (501, 451)


@pytestmark_db
async def test_plivo_paced_audio_is_never_dropped(scripted):
    scripted.transcripts = ["hello"]
    await sync_to_async(make_agent)(greeting="")
    caller = await started_without_pump()
    await caller.start()  # the real 20 ms pump, real clock (start is repeated: a second start changes nothing)
    await caller.send_silence(1500)
    await caller.hang_up()
    call = await sync_to_async(Call.objects.get)()
    assert call.metrics["stream"]["flood_dropped_frames"] == 0
    assert call.metrics["stream"]["frames_in"] == caller.chunk

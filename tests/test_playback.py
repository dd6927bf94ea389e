"""The Player: paced 20 ms playAudio frames, checkpoints, barge-in with the heard text, bounded waits."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from streaming.audio import FRAME_BYTES
from streaming.playback import Player, Utterance

AUDIO = bytes(i % 200 for i in range(1000))  # 6 full frames + 40 bytes


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Wire:
    """A fake websocket ``send``: records each message with the time it was sent."""

    def __init__(self, clock=time.monotonic) -> None:
        self.messages: list[dict] = []
        self.texts: list[str] = []
        self.times: list[float] = []
        self.clock = clock

    async def __call__(self, text: str) -> None:
        self.texts.append(text)
        self.messages.append(json.loads(text))
        self.times.append(self.clock())

    def kinds(self) -> list[str]:
        return [m["event"] if m["event"] != "checkpoint" else m["name"] for m in self.messages]

    def audio(self) -> list[bytes]:
        return [base64.b64decode(m["media"]["payload"]) for m in self.messages if m["event"] == "playAudio"]


async def until(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


@pytest.fixture
async def rig():
    clock = Clock()
    wire = Wire(clock)
    player = Player(wire, "stream-1", clock=clock)
    task = asyncio.get_running_loop().create_task(player.run())
    yield player, wire, clock
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def say(player: Player, audio: bytes, text: str = "", chunk: int = 333, purpose: str = "reply") -> Utterance:
    utterance = player.begin(purpose, 1)
    if text:
        player.add_text(utterance, text)
    for i in range(0, len(audio), chunk):
        player.add_audio(utterance, audio[i : i + chunk])
    player.finish(utterance)
    return utterance


async def test_frames_are_160_bytes_and_reassemble_the_audio(rig):
    player, wire, clock = rig
    clock.t = 100.0  # frames go out as the clock moves, never more than 100 ms ahead
    say(player, AUDIO)
    for _ in range(10):
        await asyncio.sleep(0.01)
        clock.t += 0.02
    await until(lambda: len(wire.messages) == 8)
    frames = wire.audio()
    assert [len(f) for f in frames] == [160] * 7
    assert b"".join(frames) == AUDIO + b"\xff" * 120
    assert wire.texts[-1] == '{"event":"checkpoint","streamId":"stream-1","name":"utterance-1"}'
    assert wire.kinds() == ["playAudio"] * 7 + ["utterance-1"] and player.frames_sent == 7


async def test_each_checkpoint_follows_the_last_frame_of_its_utterance(rig):
    player, wire, clock = rig
    first = say(player, AUDIO[:320])
    second = say(player, AUDIO[:480], purpose="goodbye")
    await until(lambda: player.frames_sent == 5)
    clock.t += 1.0
    await until(lambda: len(wire.messages) == 7)
    assert (first.name, second.name) == ("utterance-1", "utterance-2")
    assert wire.kinds() == ["playAudio"] * 2 + ["utterance-1"] + ["playAudio"] * 3 + ["utterance-2"]


async def test_one_checkpoint_when_finish_races_the_last_send():
    gate, texts = asyncio.Event(), []

    async def slow_send(text: str) -> None:
        texts.append(text)
        if '"playAudio"' in text:
            await gate.wait()

    player = Player(slow_send, "s", clock=Clock())
    task = asyncio.get_running_loop().create_task(player.run())
    utterance = player.begin("reply", 1)
    player.add_audio(utterance, AUDIO[:160])
    await until(lambda: len(texts) == 1)  # the frame is on its way
    player.finish(utterance)
    gate.set()
    await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [json.loads(t)["event"] for t in texts] == ["playAudio", "checkpoint"]


async def test_never_more_than_lead_ahead_with_a_stepped_clock(rig):
    player, _, clock = rig
    ahead: list[float] = []
    player._on_frame = lambda play_at, frame: ahead.append(play_at - clock())
    say(player, AUDIO * 2)  # 13 frames
    await until(lambda: player.frames_sent == 6)
    await asyncio.sleep(0.03)
    assert player.frames_sent == 6  # 0, 20, ... 100 ms ahead, then it waits
    for step in range(1, 8):
        clock.t += 0.02
        await until(lambda step=step: player.frames_sent == 6 + step)
    assert max(ahead) <= 0.1 + 1e-9 and len(ahead) == 13
    assert [round(a, 3) for a in ahead] == [0.0, 0.02, 0.04, 0.06, 0.08, 0.1] + [0.1] * 7


async def test_real_time_pacing_lower_bounds():
    wire = Wire()
    player = Player(wire, "s", lead_ms=60)
    task = asyncio.get_running_loop().create_task(player.run())
    started = time.monotonic()
    say(player, AUDIO[:160] * 15)
    await until(lambda: len(wire.messages) == 16)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    sends = wire.times[:15]
    for i, at in enumerate(sends):  # frame i starts playing at 20*i ms: not sent before 20*i - lead - one frame
        assert at - started >= i * 0.02 - 0.06 - 0.02 - 0.001
    assert sends[-1] - sends[0] >= 0.2


async def test_interrupt_drops_queue_clears_once_and_returns_heard_text(rig):
    player, wire, clock = rig
    first = say(player, AUDIO[:160] * 10, text="one two three four five")
    second = say(player, AUDIO[:320], text="never heard")
    await until(lambda: player.frames_sent == 6)
    clock.t = 0.08  # 4 of the 6 sent frames have played: 640 of 1600 bytes
    cut = player.interrupt()
    assert cut == [(first, "one two"), (second, "")]
    await asyncio.sleep(0.01)
    clock.t = 5.0
    await asyncio.sleep(0.03)
    assert wire.kinds() == ["playAudio"] * 6 + ["clearAudio"]
    assert wire.texts[-1] == '{"event":"clearAudio","streamId":"stream-1"}'
    assert first.cancelled and second.cancelled and first.done.is_set() and second.done.is_set()
    player.add_audio(first, AUDIO)
    player.finish(first)
    assert player.frames_sent == 6 and player.interrupt() == []


async def test_interrupt_before_anything_was_sent_sends_no_clear_audio():
    wire = Wire()
    player = Player(wire, "s", clock=Clock())  # run() is not started: nothing leaves the queue
    utterance = say(player, AUDIO, text="hello there")
    assert utterance.queued_bytes == 7 * FRAME_BYTES and utterance.sent_bytes == 0  # 140 ms queued, none sent
    assert player.interrupt() == [(utterance, "")]
    pacing = asyncio.get_running_loop().create_task(player.run())  # what was queued must not go out now
    await asyncio.sleep(0.03)
    pacing.cancel()
    assert wire.messages == [] and player.frames_sent == 0


@pytest.mark.parametrize(
    ("played", "heard"),
    [
        (0, ""),
        (159, ""),
        (160, "Hello"),
        (319, "Hello"),
        (320, "Hello there."),
        (400, "Hello there."),
        (480, "Hello there. How"),
        (640, "Hello there. How are"),
        (959, "Hello there. How are you"),
        (960, "Hello there. How are you today?"),
        (10_000, "Hello there. How are you today?"),
    ],
)
def test_heard_text_is_a_word_prefix_of_played_bytes(played, heard):
    utterance = Utterance(1, "reply", 1, segments=[("Hello there.", 0, 320), ("How are you today?", 320, 960)])
    assert utterance.heard_text(played) == heard
    assert utterance.text.startswith(heard)


def test_utterance_text_and_name():
    utterance = Utterance(7, "reply", 3, segments=[("Hi.", 0, 160), ("Bye.", 160, 320)])
    assert (utterance.name, utterance.text) == ("utterance-7", "Hi. Bye.")
    utterance.planned = lambda: "Hi.  Bye.   And more."
    assert utterance.text == "Hi. Bye. And more."
    utterance.planned = lambda: "Something else"
    assert utterance.text == "Hi. Bye."


async def test_played_releases_wait_played(rig):
    player, wire, _ = rig
    utterance = say(player, AUDIO[:320])
    waiter = asyncio.get_running_loop().create_task(player.wait_played(utterance, grace_s=5))
    await until(lambda: wire.kinds() == ["playAudio", "playAudio", "utterance-1"])
    player.played("utterance-9")
    await asyncio.sleep(0.03)
    assert not waiter.done()
    player.played("utterance-1")
    assert await asyncio.wait_for(waiter, 1) is True
    assert player.active == []


async def test_wait_played_is_bounded_without_an_ack(rig):
    player, wire, _ = rig
    utterance = say(player, AUDIO[:320])
    started = time.monotonic()
    assert await player.wait_played(utterance, grace_s=0.05) is False
    assert time.monotonic() - started >= 0.05 + 0.04 - 0.005  # the audio's 40 ms plus the grace
    assert player.active == [] and wire.kinds()[-1] == "utterance-1"


async def test_wait_played_after_interrupt_is_false(rig):
    player, _, _ = rig
    utterance = say(player, AUDIO)
    waiter = asyncio.get_running_loop().create_task(player.wait_played(utterance, grace_s=5))
    await asyncio.sleep(0.01)
    player.interrupt()
    assert await asyncio.wait_for(waiter, 1) is False


async def test_empty_utterance_is_done_at_once_without_checkpoint(rig):
    player, wire, _ = rig
    utterance = say(player, b"")
    assert utterance.done.is_set()
    assert await asyncio.wait_for(player.wait_played(utterance, grace_s=5), 1) is True
    assert wire.messages == []

"""A finished call is freed by reference counting: nothing of it is left in cycles for the garbage collector.

With ``gc.DEBUG_SAVEALL`` what the cyclic collector finds is kept in ``gc.garbage`` instead of freed: a call's
object left in a cycle shows up there (and stays alive). The benchmark's reason: the collector's full pass over
~500 objects per finished call paused every live call's audio (BENCHMARKS.md, streaming/cancelled_tasks.py).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from streaming import cancelled_tasks
from streaming.runner import CallRunner
from streaming.speaker import Speaker
from streaming.weak_callbacks import weak_callback
from tests.speech import synthesize_ulaw
from tests.test_engine_call import eventually, turns
from tests.test_engine_turn_taking import LONG_REPLY, answered_with_reply

OUR_PACKAGES = ("streaming", "calls", "agents")


@pytest.fixture
def saved_garbage() -> Iterator[list]:
    """What the collector finds from here on, kept for the test to read (and then freed)."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list = []
    try:
        yield found
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def collect_into(found: list) -> None:
    gc.collect()
    found.extend(gc.garbage)
    gc.garbage.clear()


def ours(objects: list) -> list[str]:
    return sorted({type(o).__qualname__ for o in objects if type(o).__module__.split(".")[0] in OUR_PACKAGES})


@pytest.mark.django_db(transaction=True)
async def test_a_call_with_a_barge_in_leaves_nothing_in_cycles(scripted, saved_garbage):
    scripted.replies = [LONG_REPLY, "Sure."]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, ["What are your opening hours?", "Wait, what about Sunday"])
    runner = weakref.ref(next(o for o in gc.get_objects() if isinstance(o, CallRunner)))
    speaker = weakref.ref(next(o for o in gc.get_objects() if isinstance(o, Speaker)))
    await caller.send_audio(synthesize_ulaw("Wait what about Sunday?"))  # the reply is cancelled mid-sentence
    await caller.wait_for(lambda: caller.events("clearAudio"))
    await caller.send_silence(400)
    await eventually(lambda: len(turns()) >= 3)
    await caller.wait_for(lambda: len(scripted.llm.conversations) == 2)
    await caller.hang_up()
    await caller.comm.wait()  # the consumer's teardown is over
    scripted.created.clear()  # the test's own references to the call's providers
    assert runner() is None and speaker() is None  # freed already, before any collection
    collect_into(saved_garbage)
    assert ours(saved_garbage) == []


async def test_a_cancelled_task_lets_go_of_its_frames(saved_garbage):
    """The frame of a cancelled coroutine refers to an object that refers to the task: a cycle through the task's
    CancelledError and its traceback, unless the task is released when it is cancelled."""

    class Part:
        task: asyncio.Task | None = None

    async def work(part: Part) -> None:
        part.task = asyncio.current_task()
        await asyncio.sleep(60)

    async def cancelled_part() -> weakref.ref:
        part = Part()
        task = asyncio.get_running_loop().create_task(work(part))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait([task])
        return weakref.ref(part)

    loop = asyncio.get_running_loop()
    assert loop.get_task_factory() is None
    kept = await cancelled_part()
    assert kept() is not None  # the control: left for the collector
    collect_into(saved_garbage)
    assert "Part" in {type(o).__name__ for o in saved_garbage}

    assert cancelled_tasks.install()
    assert cancelled_tasks.install()  # once per loop: a second call changes nothing
    freed = await cancelled_part()
    assert freed() is None
    loop.set_task_factory(None)


async def test_a_loop_with_a_task_factory_of_its_own_is_left_alone():
    loop = asyncio.get_running_loop()
    own = lambda loop, coro, **kwargs: asyncio.Task(coro, loop=loop, **kwargs)  # noqa: E731
    loop.set_task_factory(own)
    try:
        assert cancelled_tasks.install() is False
        assert loop.get_task_factory() is own
    finally:
        loop.set_task_factory(None)


async def test_a_cancelled_task_still_raises_cancelled_error_to_whoever_awaits_it():
    assert cancelled_tasks.install()
    try:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(60))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
    finally:
        asyncio.get_running_loop().set_task_factory(None)


def test_a_weak_callback_calls_through_while_its_object_lives_and_refuses_after():
    class Owner:
        def __init__(self) -> None:
            self.heard: list[str] = []

        def hear(self, word: str) -> str:
            self.heard.append(word)
            return word.upper()

    owner = Owner()
    callback = weak_callback(owner.hear)
    assert callback("hello") == "HELLO" and owner.heard == ["hello"]
    gone = weakref.ref(owner)
    del owner
    assert gone() is None  # the callback did not keep it
    with pytest.raises(ReferenceError, match=r"Owner\.hear: its object is gone"):
        callback("again")

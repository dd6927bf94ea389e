"""Cancelled tasks let go of what their coroutine held, so that a finished call is freed by reference counting.

A cancelled task keeps its ``CancelledError`` until somebody asks for its result, and the error's traceback keeps
every frame the cancellation went through, with their locals: the call's parts (``self``), queues, timeouts that
point back at the task. Most of a call's tasks are cancelled when it ends and nobody asks, so each finished call
left its whole object graph in reference cycles (~500 objects per call) for the cyclic collector, whose full pass
then freed tens of thousands of objects at once while holding the GIL: the pause every live call's audio waited
for, largest when many calls ended together (BENCHMARKS.md). Installed on the event loop, ``release`` takes the
error from every cancelled task as it finishes and clears its frames. Whoever awaits the task later still gets a
``CancelledError`` (a new one, without that traceback).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Coroutine, Generator
from typing import Any


def release(task: asyncio.Future) -> None:
    """Done callback: a cancelled task's error taken and its traceback's frames cleared."""
    if not task.cancelled():
        return
    try:
        task.result()
    except asyncio.CancelledError as exc:
        error: BaseException | None = exc
        while error is not None:  # a cancellation raised while handling another error chains to it
            traceback.clear_frames(error.__traceback__)
            error.__traceback__ = None
            error = error.__context__


def _releasing_factory(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any], **kwargs: Any
) -> asyncio.Task:
    task = asyncio.Task(coro, loop=loop, **kwargs)
    task.add_done_callback(release)
    return task


def install(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Every task the loop creates from now on is released when cancelled. Leaves a loop that already has a task
    factory of its own alone (returns False then)."""
    loop = loop or asyncio.get_running_loop()
    factory = loop.get_task_factory()
    if factory is None:
        loop.set_task_factory(_releasing_factory)
        return True
    return factory is _releasing_factory

"""Checks shared by the stream-survival tests: no task outlives its call, calls started on an existing agent."""

from __future__ import annotations

import asyncio
import time

from tests.plivo_caller import PlivoCaller, answer


def running_tasks() -> set[asyncio.Task]:
    return {task for task in asyncio.all_tasks() if not task.done()}


async def assert_no_leaked_tasks(baseline: set[asyncio.Task], timeout: float = 10.0) -> None:
    """Every task started since ``baseline`` has finished (waits up to ``timeout`` for the teardown to end)."""
    deadline = time.monotonic() + timeout
    while leaked := running_tasks() - baseline - {asyncio.current_task()}:
        if time.monotonic() > deadline:
            assert sorted(repr(task.get_coro()) for task in leaked) == []
        await asyncio.sleep(0.05)


async def start_call(call_uuid: str, stream_id: str = "stream-1") -> PlivoCaller:
    """Answer ``call_uuid`` (an agent must exist), connect its socket and send ``start``."""
    caller = PlivoCaller(await answer(call_uuid), call_uuid, stream_id=stream_id)
    connected, _ = await caller.connect()
    assert connected
    await caller.start()
    return caller


async def wait_closed(caller: PlivoCaller, timeout: float = 10.0) -> int:
    await caller.wait_for(lambda: caller.closed_code is not None, timeout)
    assert caller.closed_code is not None
    return caller.closed_code

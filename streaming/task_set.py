"""The asyncio tasks of one call: started guarded, cancelled or awaited together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """A failing task is logged with the call's id and never raised into the event loop."""

    def __init__(self, call_uuid: str) -> None:
        self._call_uuid = call_uuid
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Call %s: a task failed", self._call_uuid)

    def pending(self) -> list[asyncio.Task]:
        """Every task still running except the current one (a task must not cancel or await itself)."""
        current = asyncio.current_task()
        return [task for task in self._tasks if task is not current]

    async def wait(self, timeout: float) -> None:
        if pending := self.pending():
            await asyncio.wait(pending, timeout=timeout)

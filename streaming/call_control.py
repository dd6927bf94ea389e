"""Ending a live call from our side: hang up, or transfer to a person, through Plivo's REST API.

Without Plivo credentials (offline, tests) closing the stream is all we can do; Plivo then ends the call itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from calls.plivo import rest
from streaming.journal import Journal


class CallControl:
    def __init__(
        self, call_uuid: str, journal: Journal, close_socket: Callable[[], Awaitable[None]], site_url: str
    ) -> None:
        self._call_uuid = call_uuid
        self._journal = journal
        self._close_socket = close_socket
        self._site_url = site_url

    async def hang_up(self, reason: str) -> None:
        result = "stream-closed"
        if rest.configured():
            try:
                result = await asyncio.to_thread(rest.hangup_call, self._call_uuid)
            except rest.PlivoApiError as exc:
                result = f"failed: {exc}"
        await self._journal.event_now("hangup", {"reason": reason, "result": result})
        await self._close_socket()

    async def transfer(self, number: str) -> None:
        """Redirect the call to our transfer URL (which dials ``number``); on failure, end the stream."""
        status = "no-number" if not number else "no-credentials"
        if number and rest.configured():
            try:
                status = await asyncio.to_thread(
                    rest.transfer_call, self._call_uuid, f"{self._site_url}/plivo/transfer/"
                )
            except rest.PlivoApiError as exc:
                status = f"failed: {exc}"
        await self._journal.event_now("transfer", {"number": number, "status": status})
        if status != "transferred":
            await self._close_socket()

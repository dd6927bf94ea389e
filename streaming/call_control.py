"""Ending a live call from our side: hang up, or transfer to a person, through Plivo's REST API.

Without Plivo credentials (offline, tests) closing the stream is all we can do; Plivo then ends the call itself.
A transfer redirects the call to ``/plivo/transfer/?to=<destination>`` (calls/plivo/transfer_webhooks.py), which
dials the person (warm: a whisper of ``summary`` first); if nobody takes the call, Plivo brings it back to a new
stream of ours and the agent carries on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from calls import transfers
from calls.plivo import rest
from streaming.journal import Journal
from streaming.providers.config import CallConfig

SUMMARY_CHARS = 600  # what the person hears before taking the call: a sentence or two


class CallControl:
    def __init__(
        self,
        call_uuid: str,
        journal: Journal,
        close_socket: Callable[[], Awaitable[None]],
        site_url: str,
        config: CallConfig | None = None,
    ) -> None:
        self._call_uuid = call_uuid
        self._journal = journal
        self._close_socket = close_socket
        self._site_url = site_url
        self._config = config

    async def hang_up(self, reason: str) -> None:
        result = "stream-closed"
        if rest.configured():
            try:
                result = await asyncio.to_thread(rest.hangup_call, self._call_uuid)
            except rest.PlivoApiError as exc:
                result = f"failed: {exc}"
        await self._journal.event_now("hangup", {"reason": reason, "result": result})
        await self._close_socket()

    async def transfer(self, destination: str = "", summary: str = "") -> None:
        """Redirect the call to our transfer URL, which dials ``destination`` (a configured destination's name,
        or "default" / "" for the agent's transfer number). The "transfer" event, with the summary the whisper
        reads, is stored once Plivo took the redirect (the whisper is fetched only when the person answers).
        Without a destination or credentials, or when Plivo refuses: the stream ends (as before)."""
        target = transfers.resolve(self._config, destination) if self._config else None
        summary = " ".join(summary.split())[:SUMMARY_CHARS]
        data = {
            "destination": target.name if target else destination,
            "number": target.destination if target else "",
            "warm": bool(target and target.warm),
            "summary": summary,
        }
        if target is None:
            status = "no-destination"
        elif not rest.configured():
            status = "no-credentials"
        else:
            try:
                status = await asyncio.to_thread(
                    rest.transfer_call, self._call_uuid, transfers.url(self._site_url, target)
                )
            except rest.PlivoApiError as exc:
                status = f"failed: {exc}"
        await self._journal.event_now(transfers.KIND, {**data, "status": status})
        if status != "transferred":
            await self._close_socket()

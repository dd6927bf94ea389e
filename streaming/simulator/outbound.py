"""The simulator as Plivo placing an outbound call (after ``calls.create``): ring URL, then either the answer URL
with the outbound parameters and the stream (optionally the machine-detection callback while it runs), or — nobody
answered, busy, failed, cancelled — only the hangup URL with its CallStatus and HangupCause.

``await run_outbound(script, Outbound(request_uuid=…))``: ``script.caller`` is the agent's number (From),
``script.to`` the number called; the caller's turns are what the callee (or their answering machine) says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx

from streaming.simulator.client import SimulatedCall
from streaming.simulator.config import CallScript
from streaming.simulator.plivo_http import ServerUnreachable, plivo_time, post_form
from streaming.simulator.report import CallResult

UNANSWERED = {  # outcome → (CallStatus, HangupCause) of the hangup URL
    "no-answer": ("no-answer", "NO_ANSWER"),
    "busy": ("busy", "USER_BUSY"),
    "failed": ("failed", "UNALLOCATED_NUMBER"),
    "cancel": ("cancel", "ORIGINATOR_CANCEL"),
}


@dataclass(frozen=True)
class Outbound:
    request_uuid: str
    outcome: str = "answer"  # answer | no-answer | busy | failed | cancel
    machine: bool | None = None  # the machine-detection callback's verdict; None: no callback
    machine_after_ms: int = 800  # after the answer
    ring_path: str = "/plivo/ring/"
    machine_detection_path: str = "/plivo/machine-detection/"
    ring_ms: int = 300  # ringing before the answer (or the unanswered end)


class OutboundCall(SimulatedCall):
    answer_status = "in-progress"

    def __init__(self, config: CallScript, http: httpx.AsyncClient, outbound: Outbound) -> None:
        super().__init__(config, http)
        self.outbound = outbound
        self.params |= {
            "Direction": "outbound",
            "RequestUUID": outbound.request_uuid,
            "ALegRequestUUID": outbound.request_uuid,
            "ALegUUID": self.params["CallUUID"],
        }
        self.callbacks: list[tuple[str, int]] = []  # (path, HTTP status) of ring and machine-detection requests

    async def run(self) -> CallResult:
        out = self.outbound
        await self._post(out.ring_path, {**self.params, "CallStatus": "ringing"})
        await asyncio.sleep(out.ring_ms / 1000)
        if out.outcome != "answer":
            await self._post_unanswered(*UNANSWERED[out.outcome])
            self.result.ended_by = out.outcome
            return self.result
        machine = asyncio.create_task(self._machine_detection()) if out.machine is not None else None
        try:
            return await super().run()
        finally:
            if machine is not None:
                if not machine.done():
                    machine.cancel()
                await asyncio.gather(machine, return_exceptions=True)

    async def _machine_detection(self) -> None:
        while self.answer_epoch is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.outbound.machine_after_ms / 1000)
        verdict = "true" if self.outbound.machine else "false"
        await self._post(self.outbound.machine_detection_path, {**self.params, "Machine": verdict})

    async def _post(self, path: str, params: dict[str, str]) -> None:
        try:
            response = await post_form(self.http, self.base + path, params, self.config.auth_token)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"{self.base + path} failed: {exc}") from None
        self.callbacks.append((path, response.status_code))
        self._emit("callback", f"{path} → {response.status_code}")

    async def _post_unanswered(self, status: str, cause: str) -> None:
        now = time.time()
        params = {
            **self.params,
            "CallStatus": status,
            "HangupCause": cause,
            "Duration": "0",
            "BillDuration": "0",
            "HangupSource": "Callee" if status in ("busy", "no-answer") else "Plivo",
            "StartTime": plivo_time(self.ring_epoch),
            "EndTime": plivo_time(now),
        }
        try:
            response = await post_form(self.http, self.base + self.config.hangup_path, params, self.config.auth_token)
            self.result.hangup_status = response.status_code
        except httpx.HTTPError as exc:
            self.result.hangup_status, self.result.error = 0, f"hangup URL failed: {exc}"


async def run_outbound(config: CallScript, outbound: Outbound, http: httpx.AsyncClient | None = None) -> OutboundCall:
    """Play Plivo for one outbound call; returns the call (``.result``, ``.callbacks``)."""
    config = config if config.call_uuid else _with_uuid(config)
    if http is not None:
        call = OutboundCall(config, http, outbound)
        await call.run()
        return call
    async with httpx.AsyncClient(timeout=config.http_timeout_s) as client:
        call = OutboundCall(config, client, outbound)
        await call.run()
        return call


def _with_uuid(config: CallScript) -> CallScript:
    from dataclasses import replace

    return replace(config, call_uuid=str(uuid.uuid4()))

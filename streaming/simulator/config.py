"""What a simulated call does: the number to call, the caller's turns, timing and output options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streaming.simulator.report import TranscriptEntry


@dataclass(frozen=True)
class CallerTurn:
    """One thing the caller does: say ``text`` (offline TTS, at ``rate`` if given), play ``wav``, or press ``dtmf``."""

    text: str | None = None
    wav: str | None = None
    dtmf: str | None = None
    rate: float | None = None  # speaking rate of this turn (None: the script's)
    silence_ms: int | None = None  # silence before this turn once the agent has finished (None: the script's)

    @property
    def label(self) -> str:
        if self.dtmf:
            return f"DTMF {self.dtmf}"
        return self.text or f"[{Path(self.wav or '').name}]"


MM_HMM = CallerTurn(text="mm-hmm", rate=1.4)  # ~420 ms of eSpeak speech


@dataclass
class CallScript:
    """What to call and how the caller behaves. ``turns`` items may be plain strings (text to say)."""

    to: str
    turns: Sequence[CallerTurn | str] = ()
    caller: str = "+14155550111"
    base_url: str = "http://127.0.0.1:8000"
    answer_path: str = "/plivo/answer/"
    hangup_path: str = "/plivo/hangup/"
    auth_token: str = ""
    silence_ms: int = 800  # silence before each caller turn once the agent has finished
    barge_in_after_ms: int | None = None  # turns after the first start this long after the agent's reply starts
    barges_in: Callable[[int], bool] | None = None  # which turns (0-based) do, if not all after the first
    # Backchannels: while the agent's reply to the turns ``backchannels`` picks (0-based) plays, this long after its
    # first audio, the caller says ``backchannel`` and then listens on (a turn barging into that reply next starts
    # ``barge_in_after_ms`` after the first agent audio that follows the backchannel).
    backchannel: CallerTurn = MM_HMM
    backchannel_after_ms: int = 600
    backchannels: Callable[[int], bool] | None = None  # None: never
    max_seconds: float = 60.0
    greeting_timeout_s: float = 5.0  # how long to wait for a greeting before the first caller turn
    reply_timeout_s: float = 15.0  # how long to wait for the agent to start answering
    hang_up_after_ms: int | None = 1000  # after the last answer has played; None: wait for the server to end it
    record_path: str | None = None
    call_uuid: str | None = None
    stream_id: str | None = None
    account_id: str = "MAZDQ1ZJHZMZHHMJVJNZ"
    language: str = "en-us"
    speaking_rate: float = 1.0
    dtmf_gap_ms: int = 200
    http_timeout_s: float = 30.0
    stream_status: bool = True  # POST StartStream/StopStream to the <Stream>'s statusCallbackUrl
    # Open the audio socket on this server (http://host:port) instead of the answer XML's host, as a proxy that
    # routes /ws/plivo/ to separate audio processes would (README "Production topology"); "": as given.
    stream_base: str = ""
    on_event: Callable[[TranscriptEntry], None] | None = None
    # Listen mode (a number people answer: a one-way stream of both sides). With ``person_turns`` the simulator
    # also sends the ``outbound`` track: the caller's and the person's turns alternate (caller first), each
    # ``listen_gap_ms`` after the previous one ended (negative: it starts while the other still talks).
    person_turns: Sequence[CallerTurn | str] = ()
    listen_gap_ms: int = 600
    # A live caller (streaming/simulator/live_caller.py), e.g. an LLM playing a persona: after ``turns``, each time
    # the agent has finished, ``next_turn(index)`` (0-based over all caller turns) gives the next one; None hangs up.
    next_turn: Callable[[int], Awaitable[CallerTurn | None]] | None = None

    def caller_turns(self) -> list[CallerTurn]:
        return [t if isinstance(t, CallerTurn) else CallerTurn(text=t) for t in self.turns]

    def person_script(self) -> list[CallerTurn]:
        return [t if isinstance(t, CallerTurn) else CallerTurn(text=t) for t in self.person_turns]

    @property
    def listen(self) -> bool:
        return bool(self.person_turns)

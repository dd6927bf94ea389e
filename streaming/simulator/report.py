"""The simulator's results: live transcript entries, latency figures, JSON, a text summary and the stereo WAV."""

from __future__ import annotations

import audioop
import json
import statistics
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ULAW_SILENCE = b"\xff"


@dataclass(frozen=True)
class TranscriptEntry:
    """Something that happened on the call, ``at`` seconds after ``start`` was sent (negative: before)."""

    at: float
    kind: str  # answered, connected, agent-start, agent-stop, caller-start, caller-stop, clear, dtmf, send-dtmf, end
    text: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class AnswerLatency:
    """One caller turn and how fast the agent answered it."""

    turn: int
    said: str
    speech_start_s: float | None = None
    speech_end_s: float | None = None
    voice_to_voice_ms: float | None = None  # end of caller speech → first agent frame received after it
    barge_in: bool = False
    barge_in_reaction_ms: float | None = None  # caller speech onset → clearAudio received


@dataclass
class BackchannelLatency:
    """A short "mm-hmm" the caller said over the agent's reply to caller turn ``turn``, and what the agent did."""

    turn: int
    said: str
    speech_start_s: float | None = None
    speech_end_s: float | None = None
    clear_ms: float | None = None  # speech onset → clearAudio received (None: the agent talked on)
    resumed_s: float | None = None  # first playAudio after that clearAudio, before the caller's next turn
    resume_ms: float | None = None  # end of the speech → resumed_s (negative: resumed while the caller spoke)

    def settle(self) -> None:
        if self.resumed_s is not None and self.speech_end_s is not None:
            self.resume_ms = round((self.resumed_s - self.speech_end_s) * 1000, 1)


@dataclass
class CallResult:
    """Everything a simulated call observed. ``to_dict()`` is the machine-readable form."""

    call_uuid: str
    caller: str
    to: str
    stream_url: str = ""
    stream_id: str = ""
    started_at: float = 0.0  # epoch seconds when ``start`` was sent
    duration_s: float = 0.0
    ended_by: str = ""  # caller, server, max-seconds, error
    close_code: int | None = None
    close_reason: str = ""
    transcript: list[TranscriptEntry] = field(default_factory=list)
    greeting_ms: float | None = None  # start sent → first playAudio received
    connect_ms: float | None = None  # answer XML received → the stream's WebSocket accepted (silence on the line)
    answers: list[AnswerLatency] = field(default_factory=list)
    backchannels: list[BackchannelLatency] = field(default_factory=list)
    frames_sent: int = 0
    frames_received: int = 0
    checkpoints_received: int = 0
    checkpoints_acked: int = 0
    clear_audio_received: int = 0
    dtmf_sent: str = ""
    dtmf_received: str = ""  # digits of sendDTMF
    unknown_events: list[str] = field(default_factory=list)
    underruns: int = 0  # gaps inside the agent's speech (the next frame came after the buffer ran dry)
    underrun_ms: float = 0.0
    holes_over_40ms: int = 0  # silences inside one agent utterance (not across clearAudio or between utterances)
    holes_over_100ms: int = 0
    longest_hole_ms: float = 0.0
    agent_audio_ms: float = 0.0
    hangup_status: int | None = None
    status_callbacks: list[int] = field(default_factory=list)
    error: str = ""

    @property
    def voice_to_voice_ms(self) -> list[float]:
        return [a.voice_to_voice_ms for a in self.answers if a.voice_to_voice_ms is not None]

    @property
    def barge_in_reaction_ms(self) -> list[float]:
        return [a.barge_in_reaction_ms for a in self.answers if a.barge_in_reaction_ms is not None]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["voice_to_voice_ms"] = self.voice_to_voice_ms
        data["barge_in_reaction_ms"] = self.barge_in_reaction_ms
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def format_entry(entry: TranscriptEntry) -> str:
    """One live transcript line, e.g. ``[  2.34s] caller: "What are your opening hours?"``."""
    when = f"[{entry.at:7.2f}s]"
    data = entry.data
    match entry.kind:
        case "answered":
            return f"{when} answered: {entry.text}"
        case "connected":
            return f"{when} stream connected ({entry.text})"
        case "agent-start":
            resumed = data.get("resume_ms")
            after = f" (resumed {resumed:.0f} ms after the caller stopped)" if resumed is not None else ""
            return f"{when} agent: speaking…{after}"
        case "agent-stop":
            cut = " (cut off by clearAudio)" if data.get("cleared") else ""
            return f"{when} agent: stopped after {data.get('ms', 0) / 1000:.1f}s of audio{cut}"
        case "caller-start":
            return f'{when} caller: "{entry.text}"' + (" (backchannel)" if data.get("backchannel") else "")
        case "caller-stop":
            return f"{when} caller: (done speaking)"
        case "clear":
            reaction = data.get("reaction_ms")
            after = f" ({reaction:.0f} ms after the caller started speaking)" if reaction is not None else ""
            return f"{when} agent: clearAudio{after}"
        case "dtmf":
            return f"{when} caller: pressed {entry.text}"
        case "send-dtmf":
            return f"{when} agent: sent DTMF {entry.text}"
        case _:
            return f"{when} {entry.kind}: {entry.text}".rstrip(": ")


def _stats(values: Sequence[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.0f} ms"
    return f"median {statistics.median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f})"


def format_summary(result: CallResult) -> str:
    """A human summary of the latencies and counters."""
    lines = [
        f"Call {result.call_uuid}: {result.duration_s:.1f}s, ended by {result.ended_by}"
        + (f" (close code {result.close_code})" if result.close_code not in (None, 1000) else ""),
        f"  stream connected: {_ms(result.connect_ms)} after the answer",
        f"  greeting:         {_ms(result.greeting_ms)}",
    ]
    for answer in result.answers:
        figure = _ms(answer.voice_to_voice_ms) if answer.voice_to_voice_ms is not None else "no answer"
        lines.append(f'  {f"turn {answer.turn}:":<17} {figure} voice-to-voice  "{answer.said}"')
        if answer.barge_in:
            lines.append(f"  {'':<17} barge-in: clearAudio {_ms(answer.barge_in_reaction_ms)} after speech onset")
        for back in (b for b in result.backchannels if b.turn == answer.turn):
            lines.append(
                f'  {"":<17} "{back.said}" over the reply: clearAudio {_ms(back.clear_ms)} after onset, '
                f"resumed {_ms(back.resume_ms)} after it ended"
            )
    lines += [
        f"  voice-to-voice:   {_stats(result.voice_to_voice_ms)}",
        *([f"  barge-in:         {_stats(result.barge_in_reaction_ms)}"] if result.barge_in_reaction_ms else []),
        f"  frames:           {result.frames_sent} sent, {result.frames_received} received "
        f"({result.agent_audio_ms / 1000:.1f}s of agent audio; {result.underruns} underruns, "
        f"{result.underrun_ms:.0f} ms; holes > 40 ms: {result.holes_over_40ms}, > 100 ms: "
        f"{result.holes_over_100ms})",
        f"  checkpoints:      {result.checkpoints_acked}/{result.checkpoints_received} acked, "
        f"{result.clear_audio_received} clearAudio",
    ]
    if result.dtmf_sent or result.dtmf_received:
        lines.append(f"  DTMF:             sent {result.dtmf_sent or '—'}, agent sent {result.dtmf_received or '—'}")
    if result.hangup_status is not None:
        lines.append(f"  hangup URL:       HTTP {result.hangup_status}")
    if result.error:
        lines.append(f"  error:            {result.error}")
    return "\n".join(lines)


def cut_at(played: Sequence[tuple[float, bytes]], clears: Sequence[float]) -> list[tuple[float, bytes]]:
    """Agent audio as heard: a piece that was playing when clearAudio came stops there."""
    heard = list(played)
    for cleared in clears:
        heard = [
            (s, a[: max(0, round((cleared - s) * 8000))] if s < cleared < s + len(a) / 8000 else a) for s, a in heard
        ]
    return heard


def write_stereo_wav(
    path: str | Path,
    caller: Sequence[tuple[float, bytes]],
    agent: Sequence[tuple[float, bytes]],
    seconds: float,
    origin: float = 0.0,
) -> None:
    """A 16-bit 8 kHz stereo WAV: caller μ-law on the left, agent μ-law on the right, placed at ``time - origin``."""
    caller = [(t - origin, a) for t, a in caller]
    agent = [(t - origin, a) for t, a in agent]
    total = max(0, round(seconds * 8000))
    for offset, audio in (*caller, *agent):
        total = max(total, round(offset * 8000) + len(audio))
    tracks = []
    for pieces in (caller, agent):
        track = bytearray(ULAW_SILENCE * total)
        for offset, audio in pieces:
            start = max(0, round(offset * 8000))
            track[start : start + len(audio)] = audio
        tracks.append(audioop.ulaw2lin(bytes(track[:total]), 2))
    left = audioop.tostereo(tracks[0], 2, 1, 0)
    right = audioop.tostereo(tracks[1], 2, 0, 1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(audioop.add(left, right, 2))

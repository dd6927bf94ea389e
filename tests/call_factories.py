"""Builders for finished calls with known turns, and for users with and without access to calls."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Permission, User

from agents.models import Agent, ExtractionField
from calls.models import Call, CallEvent, Turn
from tests.factories import make_agent

T0 = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)

# (role, text, start_ms, end_ms, interrupted, heard_text, latency)
KNOWN_TURNS = [
    ("agent", "Hello, this is Acme Dental. How can I help?", 640, 3200, False, "", {"tts_ms": 180, "send_ms": 20}),
    ("caller", "Hi, I'd like to book a cleaning for next week.", 4000, 6500, False, "", {}),
    (
        "agent",
        "Sure, we have Tuesday at 10 or Thursday at 2.",
        7300,
        9000,
        True,
        "Sure, we have Tuesday at 10",
        {"stt_ms": 150, "llm_ms": 420, "tts_ms": 160, "send_ms": 20, "voice_to_voice_ms": 800},
    ),
    ("caller", "Tuesday works. My email is jane@example.com", 9100, 12000, False, "", {}),
    (
        "agent",
        "Great, you're booked for Tuesday at 10.",
        12900,
        15500,
        False,
        "",
        {"stt_ms": 200, "llm_ms": 450, "tts_ms": 200, "send_ms": 50, "voice_to_voice_ms": 900},
    ),
    ("caller", "Thanks, that's perfect.", 16000, 17500, False, "", {}),
    ("agent", "You're welcome. Goodbye!", 18100, 19900, False, "", {"llm_ms": 300, "voice_to_voice_ms": 600}),
]
KNOWN_FIELDS = [("email", "email"), ("visits", "integer"), ("appointment", "date"), ("callback", "phone")]


def dental_agent(**fields) -> Agent:
    fields.setdefault("summary_instructions", "Focus on the booking.")
    agent = make_agent("Dental desk", number=fields.pop("number", "+14155550100"), **fields)
    for name, type_ in KNOWN_FIELDS:
        ExtractionField.objects.create(agent=agent, name=name, type=type_, description=f"the caller's {name}")
    agent.refresh_from_db()
    return agent


def make_call(agent: Agent | None = None, *, turns=KNOWN_TURNS, created_at: datetime = T0, **fields) -> Call:
    """A completed call with ``turns``; timestamps relative to ``created_at``."""
    defaults = {
        "call_uuid": "CA-known-1",
        "from_number": "+14155550111",
        "to_number": "+14155550100",
        "status": Call.Status.COMPLETED,
        "duration_seconds": 42,
        "answered_at": created_at + timedelta(seconds=1),
        "stream_started_at": created_at + timedelta(seconds=1),
        "stream_ended_at": created_at + timedelta(seconds=43),
        "ended_at": created_at + timedelta(seconds=43),
        "metrics": {"greeting_ms": 640},
        "hangup_cause": "NORMAL_CLEARING",
    }
    if agent is not None:
        defaults.update(agent=agent, agent_snapshot=agent.snapshot(), agent_version=agent.version)
    call = Call.objects.create(**{**defaults, **fields})
    Call.objects.filter(pk=call.pk).update(created_at=created_at)
    call.refresh_from_db()
    for seq, (role, text, start, end, interrupted, heard, latency) in enumerate(turns, start=1):
        Turn.objects.create(
            call=call,
            sequence=seq,
            role=role,
            text=text,
            start_ms=start,
            end_ms=end,
            interrupted=interrupted,
            heard_text=heard,
            latency=latency,
        )
    return call


def add_event(call: Call, kind: str, data: dict, seconds: float) -> CallEvent:
    event = CallEvent.objects.create(call=call, kind=kind, data=data)
    CallEvent.objects.filter(pk=event.pk).update(time=call.stream_started_at + timedelta(seconds=seconds))
    event.refresh_from_db()
    return event


def make_user(
    username: str, *, permitted: bool = False, staff: bool = False, password: str | None = None, hangup: bool = False
) -> User:
    """A user (with an unusable password unless one is given: hashing is slow); ``permitted`` may view calls,
    ``hangup`` may also hang them up."""
    user = User.objects.create_user(username, password=password, is_staff=staff)
    if permitted:
        user.user_permissions.add(Permission.objects.get(codename="view_call_records"))
    if hangup:
        user.user_permissions.add(Permission.objects.get(codename="hangup_call"))
    return user


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A stereo 16-bit WAV like the engine's recordings (a quiet ramp, so bytes differ along the file)."""
    frames = int(seconds * rate)
    samples = b"".join(((i % 200) * 10).to_bytes(2, "little", signed=True) * 2 for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def store_recording(call: Call, data: bytes, name: str = "2025/03/known.wav") -> Path:
    path = Path(settings.RECORDINGS_DIR) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    Call.objects.filter(pk=call.pk).update(recording_path=name)
    call.refresh_from_db()
    return path


PIZZA_TURNS = [
    ("agent", "Pizza line, what can I get you?", 500, 2000, False, "", {}),
    ("caller", "A large PEPPERONI, and it was cold last time!", 2500, 5000, False, "", {}),
    ("agent", "Sorry about that.", 5600, 6500, False, "", {"llm_ms": 380, "voice_to_voice_ms": 1200}),
]
HOURS_TURNS = [
    ("caller", "When are you open?", 0, 1500, False, "", {}),
    ("agent", "Monday to Friday, nine to five.", 2100, 4000, False, "", {"voice_to_voice_ms": 700}),
]


def three_calls() -> tuple[Call, Call, Call]:
    """Dental (interrupted, positive), pizza (outbound, failed, negative) and hours (neutral), oldest first."""
    dental = dental_agent()
    pizza = make_agent("Pizza line", number="+14155550200")
    booked = make_call(
        dental, sentiment="positive", summary="Booked a cleaning for Tuesday.", metrics={"v2v_p50_ms": 800.0}
    )
    cold = make_call(
        pizza,
        turns=PIZZA_TURNS,
        created_at=T0 + timedelta(days=2),
        call_uuid="CA-pizza-2",
        from_number="+14155550100",
        to_number="+14155550222",
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.FAILED,
        sentiment="negative",
        summary="=Complaint about a cold pizza.",
        duration_seconds=7,
        metrics={"v2v_p50_ms": 1200.0, "interruptions": 0},
    )
    hours = make_call(
        dental,
        turns=HOURS_TURNS,
        created_at=T0 + timedelta(days=4),
        call_uuid="CA-hours-3",
        from_number="+14155550333",
        sentiment="neutral",
        summary="Asked about opening hours.",
        duration_seconds=None,
        metrics={},
    )
    return booked, cold, hours

"""Replay a real call against a version of its agent (the published one, the draft, or an earlier one).

The caller's side comes from the recording (left channel, each caller turn cut out where the transcript places it,
with the original pause before it) or, without a recording, from the caller's transcribed turns re-spoken by TTS.
The result is compared with the original turn by turn: what the caller said, what the agent answered then and now,
each answer's voice-to-voice latency, and whether the answer changed. A replay passes when no answer changed.
"""

from __future__ import annotations

import audioop
import difflib
import re
import wave
from pathlib import Path

from django.conf import settings

from calls.models import Call, Turn
from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import runs
from calls.scenarios.script import CallerPlan, Step

PAD_MS = 300  # kept around each caller turn cut from the recording
MIN_GAP_MS, MAX_GAP_MS = 200, 3000  # the pause before a turn, as in the original, within these bounds


def recording_path(call: Call) -> Path | None:
    if not call.recording_path:
        return None
    root = Path(settings.RECORDINGS_DIR).resolve()
    path = (root / call.recording_path).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def caller_turns(call: Call) -> list[Turn]:
    return [t for t in call.turns.order_by("sequence") if t.role == Turn.Role.CALLER and t.text.strip()]


def original_gaps(call: Call) -> list[int | None]:
    """The caller's pause before each of its turns: from the end of what the agent said before it."""
    gaps, agent_end = [], None
    for turn in call.turns.order_by("sequence"):
        if turn.role == Turn.Role.AGENT and turn.end_ms is not None:
            agent_end = turn.end_ms
        elif turn.role == Turn.Role.CALLER and turn.text.strip():
            gap = None if agent_end is None or turn.start_ms is None else turn.start_ms - agent_end
            gaps.append(None if gap is None else max(MIN_GAP_MS, min(MAX_GAP_MS, gap)))
    return gaps


def cut_left(recording: Path, pieces: list[tuple[int, int]], into: Path) -> list[Path]:
    """Mono WAVs of the left channel (the caller) between each (start_ms, end_ms), padded."""
    with wave.open(str(recording), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    left = audioop.tomono(frames, width, 1, 0) if channels == 2 else frames
    per_ms = rate * width // 1000
    paths = []
    for index, (start, end) in enumerate(pieces):
        begin, stop = max(0, start - PAD_MS) * per_ms, (end + PAD_MS) * per_ms
        path = into / f"turn-{index + 1}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(width)
            out.setframerate(rate)
            out.writeframes(left[begin:stop])
        paths.append(path)
    return paths


def caller_plan(call: Call, workdir: Path) -> tuple[CallerPlan, str]:
    """The caller's turns of ``call`` and where they come from ("recording" or "transcript")."""
    turns, gaps = caller_turns(call), original_gaps(call)
    recording = recording_path(call)
    timed = all(t.start_ms is not None and t.end_ms is not None and t.end_ms > t.start_ms for t in turns)
    if recording is not None and timed and turns:
        try:
            wavs = cut_left(recording, [(t.start_ms or 0, t.end_ms or 0) for t in turns], workdir)
        except (wave.Error, EOFError, OSError):
            wavs = []
        if wavs:
            steps = [Step(wav=str(p), silence_ms=g) for p, g in zip(wavs, gaps, strict=True)]
            return CallerPlan(turns=steps), "recording"
    return CallerPlan(turns=[Step(text=t.text, silence_ms=g) for t, g in zip(turns, gaps, strict=True)]), "transcript"


def grouped(transcript: list[dict]) -> list[dict]:
    """[{"caller": text or None (the greeting's group), "agent": [texts], "latency_ms": first answer's}]."""
    groups: list[dict] = [{"caller": None, "agent": [], "latency_ms": None}]
    for turn in transcript:
        if turn["role"] == Turn.Role.CALLER:
            groups.append({"caller": turn["text"], "agent": [], "latency_ms": None})
        elif turn["role"] == Turn.Role.AGENT:
            group = groups[-1]
            if not group["agent"]:
                group["latency_ms"] = (turn.get("latency") or {}).get("voice_to_voice_ms")
            group["agent"].append(turn["text"])
    return groups


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def word_diff(old: str, new: str) -> list[list[str]]:
    """[[op, text]] with op "same", "removed" or "added", word by word."""
    a, b = old.split(), new.split()
    parts: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(["same", " ".join(a[i1:i2])])
            continue
        if i2 > i1:
            parts.append(["removed", " ".join(a[i1:i2])])
        if j2 > j1:
            parts.append(["added", " ".join(b[j1:j2])])
    return parts


def compare(original: list[dict], new: list[dict]) -> list[dict]:
    """One row per exchange (the greeting first), the original beside the new one."""
    before, after = grouped(original), grouped(new)
    rows = []
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else {"caller": None, "agent": [], "latency_ms": None}
        now = after[index] if index < len(after) else {"caller": None, "agent": [], "latency_ms": None}
        old_text, new_text = " ".join(old["agent"]), " ".join(now["agent"])
        rows.append(
            {
                "turn": index,
                "caller_original": old["caller"],
                "caller_new": now["caller"],
                "agent_original": old_text,
                "agent_new": new_text,
                "latency_original_ms": old["latency_ms"],
                "latency_new_ms": now["latency_ms"],
                "same": normalized(old_text) == normalized(new_text),
                "diff": word_diff(old_text, new_text),
            }
        )
    return rows


def start_replay(source: Call, *, draft: bool = False, version: int | None = None, started_by=None) -> ScenarioRun:
    if source.agent is None:
        raise runs.RunError("This call has no agent to replay it against.")
    return runs.new_run(source.agent, kind="replay", draft=draft, version=version,
                          source_call=source, started_by=started_by)  # fmt: skip


def save_as_scenario(call: Call, name: str, *, must_say_hints: bool = False) -> Scenario:
    """A scenario from a call: its caller turns as the script; optionally each original answer as a must_say."""
    if call.agent is None:
        raise runs.RunError("This call has no agent.")
    script = [{"say": t.text.strip()} for t in caller_turns(call)]
    if not script:
        raise runs.RunError("This call has no caller turns.")
    expectations = []
    if must_say_hints:
        answers = [t.text.strip() for t in call.turns.order_by("sequence") if t.role == Turn.Role.AGENT and t.text]
        expectations = [{"must_say": text} for text in dict.fromkeys(answers)]
    return Scenario.objects.create(agent=call.agent, name=name[:120], script=script, expectations=expectations)

"""From call summaries (client side) and call records (server side) to one result per load point, with targets."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bench.db import CallRecord

FRAME_MS = 20
UNDERRUN_MS = 2.0  # a frame later than this after the caller's buffer ran dry counts as an underrun
HOLE_MS = (40, 100)  # audible holes inside one agent utterance, counted separately


@dataclass(frozen=True)
class Latency:
    """The scripted provider latencies (also given to the wire fakes)."""

    stt_ms: int = 150
    llm_ms: int = 300
    tts_ms: int = 100
    tokens_per_s: float = 50.0

    def provider_ms(self, first_sentence_tokens: int) -> float:
        """Time the providers themselves take before the first agent audio exists.

        STT: the final comes on the first 20 ms frame with at least ``stt_ms`` of silence, so ceil(X / 20) * 20 ms.
        LLM: first token after Y, then the sentence splitter hands the first sentence to TTS when the token *after*
        its final period arrives: ``first_sentence_tokens`` token gaps later. TTS: first audio after Z.
        """
        stt = math.ceil(self.stt_ms / FRAME_MS) * FRAME_MS
        gap = 1000 / self.tokens_per_s if self.tokens_per_s else 0.0
        return stt + self.llm_ms + first_sentence_tokens * gap + self.tts_ms

    @property
    def xyz_ms(self) -> int:
        return self.stt_ms + self.llm_ms + self.tts_ms


def pct(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 1)


def spread(values: Sequence[float], *qs: int) -> dict[str, float | None]:
    return {f"p{q}": pct(values, q) for q in qs} | {"n": len(values)}


def _flat(items: Iterable[Iterable[float]]) -> list[float]:
    return [v for item in items for v in item]


def summarize_point(
    calls: list[dict],
    records: dict[str, CallRecord],
    provider_ms: Callable[[int], float] | None,
    xyz_ms: int | None,
    floor_ms: float | None = None,
    ramp_end: float = 0.0,
    expected_reply: Callable[[str], str] | None = None,
    resumed_column: bool = True,
) -> dict:
    """All figures of one load point (N concurrent calls); ``ramp_end`` (epoch s) separates the calls started in
    the initial burst from those started in steady state, for the ``after_ramp`` diagnostics. ``expected_reply``:
    the agent's full reply to a caller's words (the scripted LLM's echo), for the words a resumed reply lost;
    ``resumed_column``: whether the server's schema has ``Turn.resumed`` at all."""
    answers = [a for c in calls for a in c["answers"]]
    answered = [a for a in answers if a["voice_to_voice_ms"] is not None]
    v2v = [a["voice_to_voice_ms"] for a in answered]
    barge = [a for a in answers if a["barge_in"] and a["spoken"]]
    backs = [b for c in calls for b in c.get("backchannels", []) if b["spoken"]]
    resumes = [b["resume_ms"] for b in backs if b["resume_ms"] is not None]
    lateness = _flat(c["lateness_ms"] for c in calls)
    late = [max(0.0, v) for v in lateness]
    stream = [records[c["call_uuid"]].stream for c in calls if c["call_uuid"] in records]
    lags = [s["inbound_lag_p99_ms"] for s in stream if s.get("inbound_lag_p99_ms") is not None]
    with_stream = [c for c in calls if records.get(c["call_uuid"]) and records[c["call_uuid"]].stream]
    point = {
        "calls_placed": len(calls),
        "calls_failed": sum(1 for c in calls if c["error"] or c["ended_by"] not in ("caller",)),
        "errors": sorted({c["error"][:160] for c in calls if c["error"]})[:5],
        "voice_to_voice_ms": spread(v2v, 50, 95, 99),
        "answers_missing": sum(1 for a in answers if a["spoken"] and a["voice_to_voice_ms"] is None),
        "greeting_ms": spread([c["greeting_ms"] for c in calls if c["greeting_ms"] is not None], 50, 95, 99),
        "connect_ms": spread([c["connect_ms"] for c in calls if c.get("connect_ms") is not None], 50, 95, 99),
        "barge_in_ms": spread([a["barge_in_ms"] for a in barge if a["barge_in_ms"] is not None], 50, 95, 99),
        "barge_ins_missed": sum(1 for a in barge if a["barge_in_ms"] is None),
        "inbound_lag_p99_ms": {
            "max_over_calls": max(lags) if lags else None,
            "median_over_calls": pct(lags, 50),
            "calls": len(lags),
        },
        "pacing": {
            "jitter_p99_ms": pct(late, 99),
            "jitter_max_ms": round(max(late), 1) if late else None,
            "frames": len(lateness),
            "underruns": sum(1 for v in late if v > UNDERRUN_MS),
            "underrun_ms": round(sum(v for v in late if v > UNDERRUN_MS), 1),
            "buffered_p50_ms": pct([-v for v in lateness], 50),
        },
        "frames": {
            "sent": sum(c["frames_sent"] for c in with_stream),
            "server_in": sum(records[c["call_uuid"]].stream.get("frames_in", 0) for c in with_stream),
            "dropped": sum(c["frames_sent"] - records[c["call_uuid"]].stream.get("frames_in", 0) for c in with_stream),
            "calls_without_stream_metrics": len(calls) - len(with_stream),
            "server_out": sum(s.get("frames_out", 0) for s in stream),
            "client_received": sum(c["frames_received"] for c in calls),
            "bad_frames": sum(s.get("bad_frames", 0) for s in stream),
        },
        "clear_ms": {
            "barge_in": spread([a["barge_in_ms"] for a in barge if a["barge_in_ms"] is not None], 50, 95),
            "backchannel": spread([b["clear_ms"] for b in backs if b["clear_ms"] is not None], 50, 95),
        },
        "backchannels": {
            "said": len(backs),
            "cleared": sum(1 for b in backs if b["clear_ms"] is not None),
            "resumed_at_client": len(resumes),
            "resume_ms": spread(resumes, 50, 95),
        },
        "resumed": resumed_replies(records.values(), expected_reply) if resumed_column else None,
        "holes": {
            **{f"over_{ms}ms": sum(1 for v in late if v > ms) for ms in HOLE_MS},
            "longest_ms": round(max(late), 1) if late else None,
        },
        "preemptive": preemptive(records.values()),
        "turns": turn_counts(calls, records),
        "server_errors": sum(len(r.errors) for r in records.values()),
        "server_latency": server_latency(records.values()),
        "after_ramp": after_ramp([c for c in calls if c["started"] > ramp_end], records),
    }
    if provider_ms is not None:
        point["provider_ms"] = spread([provider_ms(a["turn"]) for a in answered], 50)
        point["engine_overhead_ms"] = spread(
            [a["voice_to_voice_ms"] - provider_ms(a["turn"]) for a in answered], 50, 95, 99
        )
        point["overhead_vs_xyz_ms"] = spread([v - xyz_ms for v in v2v], 50, 95)
    if floor_ms is not None:
        point["provider_floor_ms"] = floor_ms
        point["engine_overhead_net_ms"] = spread([v - floor_ms for v in v2v], 50, 95, 99)
    return point


def after_ramp(calls: list[dict], records: dict[str, CallRecord]) -> dict:
    """Greeting, voice-to-voice and inbound lag of the calls that started after the initial burst of call setups."""
    lags = [
        records[c["call_uuid"]].stream.get("inbound_lag_p99_ms")
        for c in calls
        if c["call_uuid"] in records and records[c["call_uuid"]].stream.get("inbound_lag_p99_ms") is not None
    ]
    v2v = [a["voice_to_voice_ms"] for c in calls for a in c["answers"] if a["voice_to_voice_ms"] is not None]
    return {
        "calls": len(calls),
        "greeting_ms": spread([c["greeting_ms"] for c in calls if c["greeting_ms"] is not None], 50, 95),
        "voice_to_voice_ms": spread(v2v, 50, 95),
        "inbound_lag_p99_ms": {"max_over_calls": max(lags) if lags else None, "median_over_calls": pct(lags, 50)},
    }


def turn_counts(calls: list[dict], records: dict[str, CallRecord]) -> dict[str, int]:
    """Turns the DB should hold: per call the greeting, and per spoken caller turn one caller and one agent turn."""
    expected = recorded = missing = extra = interrupted = 0
    for call in calls:
        spoken = sum(1 for a in call["answers"] if a["spoken"])
        want = (1 if call["greeting_ms"] is not None else 0) + 2 * spoken
        record = records.get(call["call_uuid"])
        have = len(record.turns) if record else 0
        expected, recorded = expected + want, recorded + have
        missing, extra = missing + max(0, want - have), extra + max(0, have - want)
        interrupted += sum(1 for t in record.turns if t.interrupted) if record else 0
    return {"expected": expected, "recorded": recorded, "missing": missing, "extra": extra, "interrupted": interrupted}


def server_latency(records: Iterable[CallRecord]) -> dict[str, dict]:
    """The engine's own view of each reply (Turn.latency): stt/llm/tts/send steps and voice-to-voice. Fixed lines'
    records (``{"line": "greeting", …}``, stored since issue 18) are not replies: left out, so that runs of older and
    newer engines compare the same thing."""
    steps: dict[str, list[float]] = {}
    for record in records:
        for turn in record.turns:
            if "line" in turn.latency:
                continue
            for name, value in turn.latency.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    steps.setdefault(name, []).append(value)
    reaction = [b["reaction_ms"] for r in records for b in r.barge_ins if b.get("reaction_ms") is not None]
    out = {name: spread(values, 50, 95) for name, values in sorted(steps.items())}
    return out | {"barge_in_reaction_ms": spread(reaction, 50, 95)}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def words_lost(expected: str, stored: str) -> int:
    """Words of ``expected`` missing from ``stored`` (in order)."""
    want, have = _words(expected), _words(stored)
    matched = sum(block.size for block in difflib.SequenceMatcher(None, want, have).get_matching_blocks())
    return len(want) - matched


def resumed_replies(records: Iterable[CallRecord], expected_reply: Callable[[str], str] | None) -> dict:
    """Agent turns stored as resumed (after a backchannel), and the words their stored text lost against the
    reply the LLM gave (the best match among the call's caller turns: with a preemptive reply the agent turn may
    be stored before the caller's)."""
    resumed = lost = 0
    for record in records:
        said = [t.text for t in record.turns if t.role == "caller"]
        for turn in record.turns:
            if turn.role == "agent" and turn.resumed:
                resumed += 1
                if expected_reply is not None and said:
                    lost += min(words_lost(expected_reply(text), turn.text) for text in said)
    return {"turns": resumed, "words_lost": lost if expected_reply is not None else None}


def preemptive(records: Iterable[CallRecord]) -> dict:
    """Preemptive replies kept (hits) and dropped (misses), summed over the calls whose metrics have them."""
    found = [r.preemptive for r in records if isinstance(r.preemptive, dict)]
    return {
        "hits": sum(int(p.get("hits", 0)) for p in found),
        "misses": sum(int(p.get("misses", 0)) for p in found),
        "calls": len(found),
    }


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    value: float | int | None
    unit: str = "ms"

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value <= self.limit

    def as_dict(self) -> dict:
        return {"limit": self.limit, "value": self.value, "unit": self.unit, "pass": self.passed}


def targets(point: dict, calls: int, providers: str) -> dict[str, dict]:
    """The issue's targets for this point. Overhead: ≤ 10 ms p95 at 1 call, ≤ 30 ms above (stated at 100 calls)."""
    turns, frames = point["turns"], point["frames"]
    checks = [
        Target("greeting_p95", 150, point["greeting_ms"]["p95"]),
        Target("barge_in_p95", 250, point["barge_in_ms"]["p95"]),
        Target("frames_dropped", 0, frames["dropped"] + frames["calls_without_stream_metrics"], "frames"),
        Target("inbound_lag_p99", 20, point["inbound_lag_p99_ms"]["max_over_calls"]),
        Target("pacing_jitter_p99", 20, point["pacing"]["jitter_p99_ms"]),
        Target("turns_missing", 0, turns["missing"] + point["calls_failed"], "turns"),
    ]
    if "engine_overhead_ms" in point:
        limit = 10 if calls <= 1 else 30
        checks.insert(0, Target("engine_overhead_p95", limit, point["engine_overhead_ms"]["p95"]))
    if providers == "scripted":
        checks.append(Target("rss_per_call", 5.0, point.get("server", {}).get("rss_per_call_mb"), "MB"))
    return {t.name: t.as_dict() for t in checks}


def turn_taking_targets(point: dict, calls: int) -> dict[str, dict]:
    """The turn-taking issue's targets, where this point measured them (kept apart from ``targets``: they do not
    decide the capacity). Reply latency against the sequential path is a comparison of two runs, not listed."""
    backs, resumed, holes = point["backchannels"], point["resumed"], point["holes"]
    checks = [Target("clear_barge_in_p95", 250, point["clear_ms"]["barge_in"]["p95"])]
    if backs["said"]:
        checks.append(Target("clear_backchannel_p95", 250, point["clear_ms"]["backchannel"]["p95"]))
        checks.append(Target("resume_p95", 300, backs["resume_ms"]["p95"]))
        if resumed is not None and resumed["words_lost"] is not None:
            checks.append(Target("resume_words_lost", 0, resumed["words_lost"], "words"))
    if calls <= 10:
        checks.append(Target("holes_over_40ms", 0, holes["over_40ms"], "holes"))
        checks.append(Target("greeting_p95_50", 50, point["greeting_ms"]["p95"]))
    if point.get("greeting_cold_ms") is not None:
        checks.append(Target("greeting_cold", 50, point["greeting_cold_ms"]))
    return {t.name: t.as_dict() for t in checks}


def _pair(spread_: dict | None, keys: tuple[str, ...] = ("p50", "p95")) -> str:
    return "/".join(_f((spread_ or {}).get(k)) for k in keys)


def _resumed(p: dict) -> str:
    """Resumed agent turns (server) / backchannels said (client), and the words those turns lost."""
    said, resumed = p.get("backchannels", {}).get("said"), p.get("resumed")
    if not said:
        return "—"
    if resumed is None:
        return f"—/{said}"
    return f"{resumed['turns']}/{said} ({_f(resumed['words_lost'])})"


def _reported(p: dict) -> bool:
    """Whether any call of the point stored preemptive-reply counts (engines from before them do not)."""
    return bool(p.get("preemptive", {}).get("calls"))


def _missed(targets: dict) -> str:
    return ",".join(k for k, v in targets.items() if not v["pass"])


def _verdict(targets: dict) -> str:
    return "NO: " + missed if (missed := _missed(targets)) else "yes"


def _f(value: object, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


TABLE_COLUMNS = (
    ("N", lambda p: p["calls"]),
    ("v2v p50/p95/p99", lambda p: "/".join(_f(p["voice_to_voice_ms"][k]) for k in ("p50", "p95", "p99"))),
    ("overhead p50/p95", lambda p: "/".join(_f(p.get("engine_overhead_ms", {}).get(k)) for k in ("p50", "p95"))),
    ("greet p95", lambda p: _f(p["greeting_ms"]["p95"])),
    ("greet cold", lambda p: _f(p.get("greeting_cold_ms"))),
    ("clear p50/p95 barge-in", lambda p: _pair(p.get("clear_ms", {}).get("barge_in", p["barge_in_ms"]))),
    ("clear p50/p95 mm-hmm", lambda p: _pair(p.get("clear_ms", {}).get("backchannel"))),
    ("resume p50/p95", lambda p: _pair(p.get("backchannels", {}).get("resume_ms"))),
    ("resumed (words lost)", _resumed),
    ("preempt hit/miss", lambda p: _pair(p["preemptive"], ("hits", "misses")) if _reported(p) else "—"),
    ("lag p99", lambda p: _f(p["inbound_lag_p99_ms"]["max_over_calls"])),
    ("jitter p99", lambda p: _f(p["pacing"]["jitter_p99_ms"], 1)),
    ("underruns", lambda p: f"{p['pacing']['underruns']}/{p['pacing']['frames']}"),
    ("holes >40/>100", lambda p: _pair(p.get("holes"), ("over_40ms", "over_100ms"))),
    ("dropped", lambda p: _f(p["frames"]["dropped"])),
    ("turns", lambda p: f"{p['turns']['recorded']}/{p['turns']['expected']}"),
    ("srv CPU%", lambda p: _f(p["server"]["cpu_steady_pct"])),
    ("machine %", lambda p: _f(p["server"]["machine_busy_pct"])),
    ("RSS MB", lambda p: _f(p["server"]["rss_peak_mb"])),
    ("MB/call", lambda p: _f(p["server"]["rss_per_call_mb"], 2)),
    ("client CPU%", lambda p: "+".join(_f(v) for v in p["client"]["cpu_pct"])),
    ("pass", lambda p: "yes" if p["all_pass"] else "NO: " + _missed(p["targets"])),
    ("turn-taking", lambda p: "—" if "targets_turn_taking" not in p else _verdict(p["targets_turn_taking"])),
)


def table(points: list[dict]) -> str:
    """A Markdown table, one row per load point (times in ms)."""
    rows = [[name for name, _ in TABLE_COLUMNS]] + [[str(get(p)) for _, get in TABLE_COLUMNS] for p in points]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|")
    return "\n".join(lines)

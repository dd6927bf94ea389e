"""After a listen-mode call: per-speaker talk time and sentiment, talk ratio, longest silence and interruptions,
from the stored turns (pure: no database). Stored in ``Call.metrics["listen"]``.

- talk time: the sum of each speaker's turns (end - start);
- caller share: the caller's talk time over both speakers';
- longest silence: the longest stretch inside the call (first turn's start → last turn's end) when nobody talked;
- an interruption by X: X started a turn while the other side's turn was still going on;
- sentiment: each utterance's score (-1 … +1, given) averaged per speaker, with its label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SPEAKERS = ("caller", "person")


@dataclass(frozen=True)
class SpokenTurn:
    sequence: int
    role: str
    text: str
    start_ms: int
    end_ms: int


def longest_silence_ms(turns: Sequence[SpokenTurn]) -> int:
    longest, talked_until = 0, None
    for turn in sorted(turns, key=lambda t: t.start_ms):
        if talked_until is not None:
            longest = max(longest, turn.start_ms - talked_until)
        talked_until = turn.end_ms if talked_until is None else max(talked_until, turn.end_ms)
    return longest


def interruptions(turns: Sequence[SpokenTurn]) -> dict[str, int]:
    counts = dict.fromkeys(SPEAKERS, 0)
    for turn in turns:
        others = (t for t in turns if t.role != turn.role)
        if any(o.start_ms < turn.start_ms < o.end_ms for o in others):
            counts[turn.role] += 1
    return counts


def listen_summary(
    turns: Sequence[SpokenTurn], scores: Mapping[int, float], labeller: Callable[[float], str]
) -> dict[str, object]:
    """The call's listen aggregates; ``scores`` maps a turn's sequence to its sentiment."""
    spoken = [t for t in turns if t.role in SPEAKERS and t.end_ms >= t.start_ms]
    talk = {who: sum(t.end_ms - t.start_ms for t in spoken if t.role == who) for who in SPEAKERS}
    sentiment: dict[str, dict[str, object] | None] = {}
    for who in SPEAKERS:
        values = [scores[t.sequence] for t in spoken if t.role == who and t.sequence in scores]
        mean = round(sum(values) / len(values), 3) if values else None
        sentiment[who] = None if mean is None else {"mean": mean, "label": labeller(mean), "utterances": len(values)}
    total = sum(talk.values())
    return {
        "caller_talk_ms": talk["caller"],
        "person_talk_ms": talk["person"],
        "caller_share": round(talk["caller"] / total, 3) if total else None,
        "longest_silence_ms": longest_silence_ms(spoken),
        "interruptions": interruptions(spoken),
        "sentiment": sentiment,
        "turns": {who: sum(t.role == who for t in spoken) for who in SPEAKERS},
    }

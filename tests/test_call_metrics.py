"""Call aggregates: exact values for a known call, and the pure functions behind them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calls.analysis import update_metrics
from calls.metrics import TurnFacts, call_aggregates, duration_seconds, percentile
from tests.call_factories import T0, dental_agent, make_call

KNOWN_AGGREGATES = {
    "greeting_ms": 640,
    "duration_s": 42,
    "caller_talk_ms": 2500 + 2900 + 1500,
    "agent_talk_ms": 2560 + 1700 + 2600 + 1800,
    "caller_turns": 3,
    "agent_turns": 4,
    "interruptions": 1,
    "v2v_count": 3,
    "v2v_p50_ms": 800.0,
    "v2v_p95_ms": 890.0,  # sorted 600, 800, 900: rank 1.9 -> 800 + 0.9 * 100
}


@pytest.mark.django_db
def test_aggregates_of_a_known_call_are_exact():
    call = make_call(dental_agent())
    assert update_metrics(call) == KNOWN_AGGREGATES
    call.refresh_from_db()
    assert call.metrics == KNOWN_AGGREGATES


@pytest.mark.django_db
def test_engine_metrics_are_kept_and_recomputing_changes_nothing():
    call = make_call(dental_agent(), metrics={"greeting_ms": 512.5, "stt_reconnects": 1})
    first = update_metrics(call)
    call.refresh_from_db()
    assert update_metrics(call) == first
    assert (first["greeting_ms"], first["stt_reconnects"]) == (512.5, 1)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([700.0], 95, 700.0),
        ([100.0, 200.0], 50, 150.0),
        ([400.0, 100.0, 300.0, 200.0], 50, 250.0),
        ([float(v) for v in range(1, 21)], 95, 19.05),
        ([10.0, 20.0, 30.0], 0, 10.0),
        ([10.0, 20.0, 30.0], 100, 30.0),
    ],
)
def test_percentile_interpolates_linearly(values, q, expected):
    result = percentile(values, q)
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_talk_time_skips_turns_without_offsets_and_v2v_ignores_non_numbers():
    turns = [
        TurnFacts("caller", 0, 1000),
        TurnFacts("caller", None, 500),
        TurnFacts("agent", 1500, 2500, latency={"voice_to_voice_ms": True}),
        TurnFacts("agent", 3000, None, latency={"voice_to_voice_ms": "700"}),
        TurnFacts("agent", 4000, 4200, interrupted=True, latency={"voice_to_voice_ms": 450}),
    ]
    result = call_aggregates(turns, engine_metrics={}, plivo_duration=None, started=None, ended=None)
    assert result == {
        "duration_s": 4,
        "caller_talk_ms": 1000,
        "agent_talk_ms": 1200,
        "caller_turns": 2,
        "agent_turns": 3,
        "interruptions": 1,
        "v2v_count": 1,
        "v2v_p50_ms": 450.0,
        "v2v_p95_ms": 450.0,
        "greeting_ms": None,
    }


def test_duration_prefers_plivo_then_wall_clock_then_last_turn():
    turns = [TurnFacts("agent", 0, 1499)]
    assert duration_seconds(30, T0, T0 + timedelta(seconds=99), turns) == 30
    assert duration_seconds(None, T0, T0 + timedelta(seconds=12.4), turns) == 12
    assert duration_seconds(None, None, None, turns) == 1
    assert duration_seconds(None, None, None, []) is None


def test_greeting_falls_back_to_an_opening_agent_turn():
    turns = [TurnFacts("agent", 710, 2000), TurnFacts("caller", 2500, 3000)]
    result = call_aggregates(turns, engine_metrics={}, plivo_duration=3, started=None, ended=None)
    assert result["greeting_ms"] == 710
    caller_first = call_aggregates(turns[::-1], engine_metrics={}, plivo_duration=3, started=None, ended=None)
    assert caller_first["greeting_ms"] is None

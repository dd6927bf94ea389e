"""Listen mode after the call: the offline sentiment scorer, the per-speaker aggregates, the pages and filters."""

from __future__ import annotations

import asyncio

import pytest

from calls.analysis import update_metrics
from calls.listen_stats import SpokenTurn, listen_summary
from calls.models import Call, CallEvent, Turn
from calls.ui.filters import CallFilterForm, filter_calls
from streaming.listen.insight import LiveInsight, alert_patterns, matched_phrases
from streaming.providers.config import CallConfig
from streaming.providers.sentiment import OfflineSentiment, create_sentiment, label, vader_score
from tests.call_factories import make_user
from tests.factories import make_agent, make_config

KNOWN = [  # caller 0–3 s, person 3.5–6 s, caller cuts in at 5 s until 7 s, person 9–10 s (2 s of silence before)
    SpokenTurn(1, "caller", "This is terrible, I want to cancel my account", 0, 3000),
    SpokenTurn(2, "person", "I am sorry, let me help you with that", 3500, 6000),
    SpokenTurn(3, "caller", "No, I am really angry", 5000, 7000),
    SpokenTurn(4, "person", "Thank you, that is great", 9000, 10000),
]


def test_offline_scorer_on_fixed_sentences():
    assert vader_score("This is terrible, I want to cancel my account") == -0.586
    assert vader_score("Thank you so much, that was really helpful!") == 0.708
    assert vader_score("I am calling about my order") == 0.0
    assert vader_score("") == 0.0
    assert [label(s) for s in (-0.586, 0.708, 0.0, 0.05, -0.05)] == [
        "negative",
        "positive",
        "neutral",
        "positive",
        "negative",
    ]
    assert asyncio.run(OfflineSentiment().score("I hate waiting")) == vader_score("I hate waiting")


def test_the_llm_scores_only_when_configured(settings):
    settings.OPENAI_API_KEY = ""
    assert create_sentiment(make_config(llm_provider="auto")).name == "vader"
    assert create_sentiment(make_config(llm_provider="offline")).name == "vader"
    settings.OPENAI_API_KEY = "sk-test"
    assert create_sentiment(make_config(llm_provider="auto")).name == "openai"
    assert isinstance(make_config(), CallConfig)


def test_aggregates_per_speaker_on_a_known_call():
    scores = {1: -0.6, 2: 0.4, 3: -0.8, 4: 0.8}
    assert listen_summary(KNOWN, scores, label) == {
        "caller_talk_ms": 5000,
        "person_talk_ms": 3500,
        "caller_share": 0.588,
        "longest_silence_ms": 2000,
        "interruptions": {"caller": 1, "person": 0},
        "sentiment": {
            "caller": {"mean": -0.7, "label": "negative", "utterances": 2},
            "person": {"mean": 0.6, "label": "positive", "utterances": 2},
        },
        "turns": {"caller": 2, "person": 2},
    }
    assert listen_summary([], {}, label)["caller_share"] is None


def test_alert_phrases_match_whole_words_in_any_case():
    patterns = alert_patterns(["Cancel my account", "lawyer", "lawyer", ""])
    assert [p for p, _ in patterns] == ["cancel my account", "lawyer"]
    assert matched_phrases("I want to CANCEL  my\naccount now", patterns) == ["cancel my account"]
    assert matched_phrases("Talk to my lawyer.", patterns) == ["lawyer"]
    assert matched_phrases("lawyers and cancel my accounts", patterns) == []


def test_live_figures_talk_silence_and_rolling_sentiment():
    insight = LiveInsight(["refund"])
    for at in range(0, 1000, 20):
        insight.voiced("caller", at)
    for at in range(3000, 3500, 20):
        insight.voiced("person", at)
    assert [insight.scored("caller", s) for s in (0.3, -0.3, -0.6, -0.9)] == [0.3, 0.0, -0.2, -0.6]
    assert insight.snapshot(4000) == {
        "caller_talk_ms": 1000,
        "person_talk_ms": 500,
        "caller_share": 0.667,
        "silence_ms": 500,
        "longest_silence_ms": 2000,
        "sentiment": {"caller": -0.6, "person": None},
    }
    assert insight.alerts("I want a refund") == ["refund"]


@pytest.mark.django_db
def test_finalize_stores_the_listen_aggregates_and_the_pages_show_them(client):
    agent = make_agent(number=None)
    call = Call.objects.create(
        call_uuid="L-known",
        agent=agent,
        agent_snapshot=agent.snapshot(),
        mode="listen",
        status="completed",
        metrics={"listen_sentiment": {"1": -0.6, "2": 0.4, "3": -0.8}},  # turn 4: scored offline after the call
    )
    for t in KNOWN:
        Turn.objects.create(
            call=call, sequence=t.sequence, role=t.role, text=t.text, start_ms=t.start_ms, end_ms=t.end_ms
        )
    CallEvent.objects.create(call=call, kind="alert", data={"phrase": "cancel my account", "speaker": "caller"})
    other = Call.objects.create(call_uuid="A-1", agent=agent, status="completed")
    update_metrics(call)
    call.refresh_from_db()
    listen = call.metrics["listen"]
    assert listen["sentiment"]["person"] == {"mean": 0.583, "label": "positive", "utterances": 2}  # (0.4 + 0.765) / 2
    assert listen["interruptions"] == {"caller": 1, "person": 0}
    client.force_login(make_user("viewer", permitted=True))
    html = client.get(f"/calls/{call.pk}/").content.decode()
    assert '<table class="data listen-summary" id="listen-summary">' in html
    assert "<tr><th>Interruptions</th><td>1</td><td>0</td></tr>" in html
    assert "Caller's share of the talk: 0.588 · Longest silence: 2000 ms" in html
    listed = lambda **q: list(filter_calls(CallFilterForm(q)).values_list("call_uuid", flat=True))  # noqa: E731
    assert listed(mode="listen") == ["L-known"]
    assert listed(alerts="yes") == ["L-known"]
    assert listed(alerts="no") == [other.call_uuid]

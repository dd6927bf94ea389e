"""One call config: parsed from the agent snapshot stored on the call, its defaults taken from the Agent model."""

from __future__ import annotations

import dataclasses

import pytest

from agents.models import Agent
from calls.config import call_config
from streaming.providers.config import OPTIONAL, CallConfig, FaqEntry, IncompleteSnapshot
from tests.factories import add_faq, make_agent, make_config

pytestmark = pytest.mark.django_db

MODEL_FALLBACK = "Sorry, I didn't catch that — could you say it again?"
MODEL_TRANSFER_LINE = "Please hold while I transfer you."


def test_every_call_setting_has_its_default_on_the_agent_model():
    # OPTIONAL: what the call adds to the agent's snapshot (the caller's memory, the agent's id), not settings
    assert {f.name for f in dataclasses.fields(CallConfig)} - OPTIONAL <= set(Agent.default_snapshot())


def test_an_agent_snapshot_becomes_the_call_config():
    agent = make_agent(
        fallback_line="Pardon?",
        transfer_line="Connecting you now.",
        end_call_phrases="Bye Now\n\nThat's ALL",
        silence_timeout_seconds=12,
    )
    add_faq(agent, "Hours?", "hours, open", "Nine to five.")
    agent.refresh_from_db()
    config = call_config(agent.snapshot())
    assert (config.fallback_line, config.transfer_line, config.greeting) == (
        "Pardon?",
        "Connecting you now.",
        "Hello, how can I help?",
    )
    assert config.end_call_phrases == ("bye now", "that's all")
    assert config.silence_timeout_seconds == 12.0 and isinstance(config.silence_timeout_seconds, float)
    assert config.faq == (FaqEntry(("hours", "open"), "Hours?", "Nine to five."),)
    assert config.version == agent.version


def test_a_snapshot_stored_before_a_field_existed_runs_with_the_model_default():
    agent = make_agent(fallback_line="Pardon?", transfer_line="Connecting you now.")
    stored = {k: v for k, v in agent.snapshot().items() if k not in ("fallback_line", "transfer_line")}
    config = call_config(stored)
    assert (config.fallback_line, config.transfer_line) == (MODEL_FALLBACK, MODEL_TRANSFER_LINE)
    assert config.greeting == "Hello, how can I help?"


def test_no_snapshot_at_all_is_an_agent_with_every_default():
    assert call_config(None) == call_config({}) == CallConfig.from_snapshot(Agent.default_snapshot())


def test_config_from_full_snapshot():
    snap = {
        "greeting": "Hello!",
        "goodbye_message": "See you.",
        "reprompt_text": "Hello?",
        "barge_in_enabled": False,
        "barge_in_min_speech_ms": 400,
        "interruption_mode": "words",
        "preemptive_reply": False,
        "silence_timeout_seconds": 12,
        "max_reprompts": 3,
        "end_call_phrases": ["Goodbye", "That's ALL"],
        "unknown_key": "ignored",
    }
    assert call_config(snap) == make_config(
        greeting="Hello!",
        goodbye_message="See you.",
        reprompt_text="Hello?",
        barge_in_enabled=False,
        barge_in_min_speech_ms=400,
        interruption_mode="words",
        preemptive_reply=False,
        silence_timeout_seconds=12.0,
        max_reprompts=3,
        end_call_phrases=("goodbye", "that's all"),
    )


def test_config_from_empty_snapshot_uses_the_agent_model_defaults():
    config = call_config({"goodbye_message": "", "reprompt_text": ""})
    assert config == make_config()
    assert (config.goodbye_message, config.reprompt_text, config.barge_in_min_speech_ms) == (
        "Thank you for calling. Goodbye!",
        "Are you still there?",
        150,
    )
    assert config.silence_timeout_seconds == 8.0 and isinstance(config.silence_timeout_seconds, float)
    assert config.barge_in_enabled is True and config.max_reprompts == 2
    assert (config.interruption_mode, config.preemptive_reply) == ("resume", True)


def test_config_refuses_an_incomplete_snapshot():
    with pytest.raises(IncompleteSnapshot, match=r"^agent snapshot lacks fallback_line, voice$"):
        CallConfig.from_snapshot(
            {k: v for k, v in Agent.default_snapshot().items() if k not in ("voice", "fallback_line")}
        )

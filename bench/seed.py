"""Seed the benchmark agent and number; run inside ``manage.py shell`` with options in env BENCH_SEED (JSON)."""

from __future__ import annotations

import json
import os

NUMBER = "+14155550100"
DEFAULTS = {
    "greeting": "Hi, how can I help?",
    "goodbye_message": "Goodbye!",
    "barge_in_enabled": True,
    "barge_in_min_speech_ms": 150,
    "end_call_phrases": "",  # a benchmark call never ends because of what the caller happened to say
    "end_of_speech_ms": 600,
    "silence_timeout_seconds": 8,
    "max_call_seconds": 900,
    "stt_provider": "auto",
    "llm_provider": "auto",
    "tts_provider": "auto",
}


def main() -> None:
    from agents.management.commands.seed_demo import DEMO_FAQ
    from agents.models import Agent, FaqEntry, PhoneNumber

    options = {**DEFAULTS, **json.loads(os.environ.get("BENCH_SEED", "{}"))}
    agent = Agent.objects.create(name="Bench agent", slug="bench", **options)
    for position, (question, keywords, answer) in enumerate(DEMO_FAQ):
        FaqEntry.objects.create(agent=agent, question=question, keywords=keywords, answer=answer, position=position)
    PhoneNumber.objects.create(number=NUMBER, label="Bench", agent=agent)
    print(f"seeded agent {agent.pk} and {NUMBER}")

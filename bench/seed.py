"""Seed the benchmark agent and number; run inside ``manage.py shell`` with options in env BENCH_SEED (JSON).

Runs with the server's code (a ``--source`` snapshot may be older): options naming a field its Agent model lacks
(``interruption_mode``, ``preemptive_reply`` before they existed) are left out, with a note.
"""

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
    fields = {f.name for f in Agent._meta.get_fields()}
    if missing := sorted(set(options) - fields):  # e.g. interruption_mode on a commit from before it existed
        print(f"note: this commit's Agent has no {', '.join(missing)}: not set")
    agent = Agent.objects.create(name="Bench agent", slug="bench", **{k: v for k, v in options.items() if k in fields})
    for position, (question, keywords, answer) in enumerate(DEMO_FAQ):
        FaqEntry.objects.create(agent=agent, question=question, keywords=keywords, answer=answer, position=position)
    PhoneNumber.objects.create(number=NUMBER, label="Bench", agent=agent)
    print(f"seeded agent {agent.pk} and {NUMBER}")

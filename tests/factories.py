"""Small builders for test data."""

from __future__ import annotations

from agents.models import Agent, FaqEntry, PhoneNumber
from streaming.providers.config import CallConfig


def make_agent(name: str = "Test agent", number: str | None = "+14155550100", **fields) -> Agent:
    fields.setdefault("greeting", "Hello, how can I help?")
    agent = Agent.objects.create(name=name, **fields)
    if number:
        PhoneNumber.objects.create(number=number, agent=agent, label="main")
    return agent


def add_faq(agent: Agent, question: str, keywords: str, answer: str) -> FaqEntry:
    return FaqEntry.objects.create(agent=agent, question=question, keywords=keywords, answer=answer)


def make_config(**overrides) -> CallConfig:
    """A call's config with the agent model's defaults (as a new agent would have), then ``overrides``."""
    return CallConfig.from_snapshot(Agent.default_snapshot()).replace(**overrides)

"""Every change to an agent bumps its version; calls keep the snapshot they ran with."""

from __future__ import annotations

import pytest

from agents.models import Agent, PhoneNumber, normalize_number
from tests.factories import add_faq, make_agent

pytestmark = pytest.mark.django_db


def test_save_bumps_version():
    agent = make_agent()
    assert agent.version == 1
    agent.greeting = "New"
    agent.save()
    assert agent.version == 2
    assert Agent.objects.get().version == 2


def test_snapshot_holds_the_whole_config():
    agent = make_agent(transfer_number="+14155550999", end_call_phrases="Goodbye\n\n  That's all ")
    add_faq(agent, "Hours?", "Hours, open ", "Nine to five.")
    agent.extraction_fields.create(name="order_id", type="string", description="Order number")
    snap = agent.snapshot()
    assert snap["end_call_phrases"] == ["goodbye", "that's all"]
    assert snap["faq"] == [
        {"question": "Hours?", "keywords": ["hours", "open"], "answer": "Nine to five.", "tool": "", "tool_pattern": ""}
    ]
    assert (snap["tools"], snap["transfer_destinations"]) == ([], [])
    assert snap["extraction_fields"] == [{"name": "order_id", "type": "string", "description": "Order number"}]
    assert snap["transfer_number"] == "+14155550999"
    assert snap["version"] == 1
    assert "webhook_secret" not in snap


def test_call_keeps_snapshot_after_agent_edit(client):
    agent = make_agent()
    client.post("/plivo/answer/", {"CallUUID": "c1", "From": "1", "To": "14155550100"})
    agent.greeting = "Edited"
    agent.save()
    call = agent.calls.get()
    assert (call.agent_version, call.agent_snapshot["greeting"]) == (1, "Hello, how can I help?")


@pytest.mark.parametrize(
    "raw, expected", [("14155550100", "+14155550100"), ("+1 (415) 555-0100", "+14155550100"), ("", "")]
)
def test_normalize_number(raw, expected):
    assert normalize_number(raw) == expected


def test_route_finds_number_in_plivo_spelling():
    agent = make_agent()
    assert PhoneNumber.route("14155550100").agent == agent
    assert PhoneNumber.route("14155550101") is None

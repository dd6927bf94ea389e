"""Duplicating an agent copies what it can do (tools, transfer destinations), not its numbers."""

from __future__ import annotations

import pytest

from agents.models import Agent, Tool, TransferDestination
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_a_copy_keeps_the_tools_and_transfer_destinations():
    agent = make_agent()
    tool = Tool.objects.create(name="order_status", description="Look up an order.", url="https://erp.example.com/o")
    agent.tools.add(tool)
    TransferDestination.objects.create(agent=agent, name="sales", destination="+14155550111", description="Buying")
    TransferDestination.objects.create(agent=agent, name="support", destination="sip:help@pbx.example.com", warm=False)

    copy = agent.duplicate()

    assert list(copy.tools.all()) == [tool]
    assert [d.as_dict() for d in copy.transfer_destinations.all()] == [
        {"name": "sales", "destination": "+14155550111", "description": "Buying", "warm": True},
        {"name": "support", "destination": "sip:help@pbx.example.com", "description": "", "warm": False},
    ]
    assert TransferDestination.objects.filter(agent=agent).count() == 2  # the original keeps its own
    assert copy.phone_numbers.count() == 0
    assert Agent.objects.count() == 2

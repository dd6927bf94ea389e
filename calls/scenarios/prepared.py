"""Calls a scenario or a replay prepares before the simulator's answer webhook: the Call row exists already, with
the agent and the exact snapshot (published, draft or an old version) it must run. The answer webhook keeps it."""

from __future__ import annotations

import uuid

from agents.models import Agent
from calls.models import Call

PREFIX = "scenario-"  # Plivo's CallUUIDs never look like this; only a prepared row carries it
TEST_CALLER = "+15550100999"  # the simulated caller's number (555-01xx: fictional)


def new_call_uuid() -> str:
    return f"{PREFIX}{uuid.uuid4()}"


def prepared_agent(call: Call, created: bool) -> Agent | None:
    """The agent of a prepared scenario call (it runs whatever number it was placed to, even none), else None."""
    if created or not call.call_uuid.startswith(PREFIX) or not call.agent_snapshot:
        return None
    return call.agent


def prepare_call(agent: Agent, snapshot: dict, version: int | None, variables: dict | None = None) -> Call:
    """The Call row a simulated call will answer: the agent's first enabled number as the number dialled, if any.
    Kept out of caller memory (``in_memory`` off)."""
    number = agent.phone_numbers.filter(enabled=True, mode="agent").order_by("number").first()
    return Call.objects.create(
        call_uuid=new_call_uuid(),
        agent=agent,
        agent_snapshot=snapshot,
        agent_version=version,
        phone_number=number,
        from_number=TEST_CALLER,
        to_number=number.number if number else "+15550100000",
        variables=dict(variables or {}),
        in_memory=False,
        status=Call.Status.RINGING,
    )

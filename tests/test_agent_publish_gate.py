"""“Publish only tested versions”: a version is published once every scenario of the agent passed against it; the
refusal names the scenarios that did not (the agents app asks through a signal; the calls app checks the runs)."""

from __future__ import annotations

import pytest

from agents.versioning import PublishRefused, publish
from calls.scenario_models import Scenario, ScenarioRun
from tests.test_agent_drafts import agent  # noqa: F401 - the fixture: version 1 published, version 3 the draft

pytestmark = pytest.mark.django_db


def scenario(agent, name: str) -> Scenario:  # noqa: F811
    return Scenario.objects.create(agent=agent, name=name, script=[{"say": "What are your hours?"}])


def ran(scenario: Scenario, number: int, status: str) -> ScenarioRun:
    version = scenario.agent.versions.get(number=number)
    return ScenarioRun.objects.create(scenario=scenario, agent=scenario.agent, agent_version=version, status=status)


def test_a_draft_is_published_only_once_all_its_scenarios_passed_against_it(admin_client, agent):  # noqa: F811
    agent.publish_after_scenarios = True
    agent.save()
    hours, booking = scenario(agent, "hours"), scenario(agent, "booking")
    ran(hours, 3, "passed")
    ran(booking, 3, "failed")
    ran(booking, 1, "passed")  # passed against another version: does not count

    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/publish/", follow=True)
    assert (
        "Version 3 cannot be published: these scenarios have not passed against it: booking. Run them against the "
        "draft (Calls › Scenarios), then publish." in response.content.decode()
    )
    agent.refresh_from_db()
    assert agent.published_version.number == 1

    ran(booking, 3, "passed")
    assert publish(agent).number == 3
    agent.refresh_from_db()
    assert agent.published_version.number == 3


def test_without_the_setting_publishing_needs_no_runs(agent):  # noqa: F811
    scenario(agent, "hours")
    assert publish(agent).number == 3


def test_the_gate_also_holds_for_an_older_version(agent):  # noqa: F811
    agent.publish_after_scenarios = True
    agent.save()
    scenario(agent, "hours")
    with pytest.raises(PublishRefused, match="Version 1 cannot be published"):
        publish(agent, agent.versions.get(number=1))

"""Signal receivers of the calls app (connected in ``CallsConfig.ready``).

An agent saved → once the transaction commits, its fixed lines are prepared in the shared speech store by a Celery
task (``calls.tasks.prepare_agent_lines``). A version about to be published → refused unless the agent's scenarios
passed against it (when the agent asks for that). The agents app knows nothing of this: it imports no other app.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save

from agents.models import Agent, AgentVersion
from agents.versioning import PublishRefused, publishing

log = logging.getLogger(__name__)


def agent_saved(sender: type[Agent], instance: Agent, raw: bool = False, **kwargs: object) -> None:
    if raw:  # loaddata: fixtures are not edits
        return
    agent_id = instance.pk
    transaction.on_commit(lambda: enqueue_agent_lines(agent_id))


def enqueue_agent_lines(agent_id: int) -> None:
    """Queue the line preparation; a broker that is down must not break the save (the answer webhook prepares
    the lines of a call whose greeting is missing anyway). Without a broker (Celery eager, one process) it runs
    inline: the save waits for the synthesis (~0.5 s for five lines with eSpeak)."""
    from calls.tasks import prepare_agent_lines

    try:
        prepare_agent_lines.delay(agent_id)
    except Exception as exc:
        log.warning("Could not queue prepare_agent_lines(%s): %s", agent_id, type(exc).__name__)


def scenarios_must_pass(sender: type[Agent], agent: Agent, version: AgentVersion, **kwargs: object) -> None:
    """With "publish only tested versions": every scenario of the agent has a passing run against ``version``."""
    from calls.scenario_models import Scenario, ScenarioRun

    if not agent.publish_after_scenarios:
        return
    passed = ScenarioRun.objects.filter(agent_version=version, status=ScenarioRun.Status.PASSED)
    untested = Scenario.objects.filter(agent=agent).exclude(pk__in=passed.values("scenario_id"))
    names = sorted(untested.values_list("name", flat=True))
    if names:
        raise PublishRefused(
            f"Version {version.number} cannot be published: these scenarios have not passed against it: "
            f"{', '.join(names)}. Run them against the draft (Calls › Scenarios), then publish."
        )


def connect() -> None:
    post_save.connect(agent_saved, sender=Agent, dispatch_uid="calls.prepare_agent_lines")
    publishing.connect(scenarios_must_pass, sender=Agent, dispatch_uid="calls.scenarios_must_pass")

"""An agent's versions: recorded when its behaviour changes, the one a call runs, publish and restore.

Every change that alters what a call does (prompt, lines, voice, settings, FAQ, fields, tools, transfer
destinations) becomes one immutable ``AgentVersion`` holding the complete snapshot; a save that changes nothing
records none. ``Agent.version`` is the number of the latest version (the draft, with drafts on).

Drafts off: calls run the latest version. Drafts on: calls run ``Agent.published_version``; test numbers
(``PhoneNumber.takes_draft``), scenarios with ``--draft`` and the simulator's draft calls run the latest one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal

from agents.models import Agent, ExtractionField, FaqEntry, Tool, TransferDestination
from agents.versions import AgentVersion

# Keys that say nothing about how a call behaves: never make a new version, never restored.
IGNORED = frozenset({"version", "enabled", "slug", "id"})


def comparable(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """``snapshot`` without the keys that do not alter behaviour (what versions are compared on)."""
    return {k: v for k, v in snapshot.items() if k not in IGNORED}


def same_behaviour(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Do two snapshots run calls the same way? (A key an older snapshot lacks counts as its default.)"""
    defaults = Agent.default_snapshot()
    return comparable(defaults | dict(a)) == comparable(defaults | dict(b))


def latest_version(agent: Agent) -> AgentVersion | None:
    return AgentVersion.objects.filter(agent_id=agent.pk).order_by("-number").first()


def record_version(agent: Agent, user: Any = None, note: str = "") -> AgentVersion | None:
    """A new version when the agent's complete snapshot differs from its latest version's, else None.

    ``agent.version`` (in memory and stored) becomes the latest version's number either way. With drafts on and
    nothing published yet, the version calls were running (the previous latest, else this first one) is published.
    """
    snapshot = agent.snapshot()
    latest = latest_version(agent)
    if latest is not None and same_behaviour(latest.snapshot, snapshot):
        _sync_number(agent, latest.number)
        return None
    with transaction.atomic():
        stored = Agent.objects.select_for_update().filter(pk=agent.pk).values_list("version", flat=True).first()
        latest = latest_version(agent)  # again, under the agent's lock: two recorders make one version
        if latest is not None and same_behaviour(latest.snapshot, snapshot):
            _sync_number(agent, latest.number)
            return None
        number = latest.number + 1 if latest is not None else max(int(stored or 1), 1)
        version = AgentVersion.objects.create(
            agent=agent,
            number=number,
            snapshot=snapshot | {"version": number},
            created_by=user if getattr(user, "pk", None) else None,
            note=note[:200],
        )
        _sync_number(agent, number)
        if agent.drafts and agent.published_version_id is None:
            publish(agent, latest or version)
    return version


def record_saved(agent: Agent, adding: bool) -> AgentVersion | None:
    """``Agent.save()``'s part: cheap when nothing the model holds changed (one query; relations changed in code
    are recorded by the next call, ``call_version``). A new agent's first version needs no query at all."""
    if adding:
        snapshot = agent.snapshot_without_relations() | {"faq": [], "extraction_fields": []}
        snapshot |= {"tools": [], "transfer_destinations": [], "version": agent.version}
        version = AgentVersion.objects.create(agent=agent, number=agent.version, snapshot=snapshot)
        if agent.drafts:
            publish(agent, version)
        return version
    latest = latest_version(agent)
    if latest is not None:
        scalar = agent.snapshot_without_relations()
        if same_behaviour({k: v for k, v in latest.snapshot.items() if k in scalar}, scalar):
            _sync_number(agent, latest.number)
            sync_published(agent)
            return None
    version = record_version(agent)
    sync_published(agent)
    return version


def _sync_number(agent: Agent, number: int) -> None:
    if agent.version != number:
        Agent.objects.filter(pk=agent.pk).update(version=number)
        agent.version = number


def sync_published(agent: Agent) -> None:
    """Drafts turned on: the latest version is what calls were running, so it is published; turned off: calls run
    the latest version, and nothing stays marked published."""
    if agent.drafts and agent.published_version_id is None and (latest := latest_version(agent)) is not None:
        publish(agent, latest)
    elif not agent.drafts and agent.published_version_id is not None:
        Agent.objects.filter(pk=agent.pk).update(published_version=None)
        agent.published_version = None


def live_version(agent: Agent) -> AgentVersion | None:
    """The version calls run now (without a test number): the published one with drafts on, else the latest."""
    if agent.drafts and agent.published_version_id is not None:
        return AgentVersion.objects.filter(pk=agent.published_version_id).first()
    return latest_version(agent)


def call_version(agent: Agent, *, draft: bool = False) -> AgentVersion:
    """The version a call runs: the published one (drafts on, ``draft=False``), else the current configuration,
    recorded as a version first when it changed outside the admin (so every call links to what it ran)."""
    if agent.drafts and not draft and agent.published_version_id is not None:
        published = AgentVersion.objects.filter(pk=agent.published_version_id).first()
        if published is not None:
            return published
    recorded = record_version(agent, note="changed outside the agent page")
    return recorded or latest_version(agent) or _never_none(agent)


def call_snapshot(agent: Agent, *, draft: bool = False) -> tuple[dict, int]:
    """The snapshot and version number a call runs (see ``call_version``); the snapshot is a fresh dict."""
    version = call_version(agent, draft=draft)
    return dict(version.snapshot) | {"version": version.number}, version.number


def _never_none(agent: Agent) -> AgentVersion:  # pragma: no cover - record_version always leaves a version
    raise AgentVersion.DoesNotExist(f"agent {agent.pk} has no version")


def draft_differs(agent: Agent) -> bool:
    """Drafts on and the latest version (the draft) is not the published one."""
    if not agent.drafts or agent.published_version_id is None:
        return False
    latest = latest_version(agent)
    return latest is not None and latest.pk != agent.published_version_id


# Sent before a version is published (agent=, version=); a receiver refuses by raising PublishRefused (the calls
# app checks the agent's scenarios: calls/signals.py). The agents app imports no other app.
publishing = Signal()


class PublishRefused(Exception):
    """Why a version cannot be published (e.g. its scenarios have not all passed)."""


def publish(agent: Agent, version: AgentVersion | None = None) -> AgentVersion:
    """Make ``version`` (default: the draft, recorded first if it changed) the one calls run; ``PublishRefused`` when
    a ``publishing`` receiver refuses it."""
    if version is None:
        version = record_version(agent) or latest_version(agent) or _never_none(agent)
    if version.agent_id != agent.pk:
        raise ValueError(f"version {version.pk} is not one of agent {agent.pk}'s")
    publishing.send(sender=Agent, agent=agent, version=version)
    Agent.objects.filter(pk=agent.pk).update(published_version=version)
    agent.published_version = version
    return version


@dataclass(frozen=True)
class Restored:
    version: AgentVersion | None  # None: the configuration already equals the restored one
    warnings: tuple[str, ...]


@transaction.atomic
def restore(agent: Agent, old: AgentVersion, user: Any = None) -> Restored:
    """Set the agent (fields, FAQ, extraction fields, transfer destinations, tools) back to ``old``'s snapshot and
    record it as a new version noted "restored from version N". Tools are shared: a deleted one cannot come back,
    and one edited since keeps its current definition (both are named in ``warnings``)."""
    snapshot = Agent.default_snapshot() | dict(old.snapshot)
    warnings: list[str] = []
    for field in Agent._meta.concrete_fields:
        if field.name in snapshot and field.name not in IGNORED and field.editable:
            value = snapshot[field.name]
            if field.name == "end_call_phrases" and isinstance(value, list):
                value = "\n".join(value)
            setattr(agent, field.name, value)
    agent.defer_versioning = True
    try:
        agent.save()
    finally:
        agent.defer_versioning = False
    tools = _restore_tools(agent, snapshot.get("tools") or [], old.number, warnings)
    _restore_faq(agent, snapshot.get("faq") or [], tools, warnings)
    agent.extraction_fields.all().delete()
    for item in snapshot.get("extraction_fields") or []:
        ExtractionField.objects.create(agent=agent, **_only(item, ("name", "type", "description")))
    agent.transfer_destinations.all().delete()
    for item in snapshot.get("transfer_destinations") or []:
        TransferDestination.objects.create(agent=agent, **_only(item, ("name", "destination", "description", "warm")))
    version = record_version(agent, user, note=f"restored from version {old.number}")
    return Restored(version, tuple(warnings))


def _only(item: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in keys if k in item}


def _restore_tools(agent: Agent, items: list[dict], number: int, warnings: list[str]) -> dict[str, Tool]:
    chosen: dict[str, Tool] = {}
    for item in items:
        name = str(item.get("name", ""))
        tool = Tool.objects.filter(Q(pk=item.get("id")) | Q(name=name)).order_by("-name").first()
        if tool is None:
            warnings.append(f"Tool “{name}” no longer exists: it was not restored.")
            continue
        if {k: v for k, v in tool.as_dict().items() if k != "id"} != {k: v for k, v in item.items() if k != "id"}:
            warnings.append(f"Tool “{tool.name}” has changed since version {number}: its current definition is used.")
        chosen[tool.name] = tool
    agent.tools.set(chosen.values())
    return chosen


def _restore_faq(agent: Agent, items: list[dict], tools: dict[str, Tool], warnings: list[str]) -> None:
    agent.faq_entries.all().delete()
    for position, item in enumerate(items):
        tool_name = str(item.get("tool") or "")
        tool = tools.get(tool_name) or (Tool.objects.filter(name=tool_name).first() if tool_name else None)
        if tool_name and tool is None:
            warnings.append(f"FAQ “{item.get('question', '')}”: tool “{tool_name}” no longer exists.")
        FaqEntry.objects.create(
            agent=agent,
            question=item.get("question", ""),
            keywords=", ".join(item.get("keywords") or []),
            answer=item.get("answer", ""),
            position=position,
            tool=tool,
            tool_pattern=item.get("tool_pattern", ""),
        )

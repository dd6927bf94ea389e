"""The agent admin's version pages: history, one version, compare any two, restore, publish (drafts).

``AgentVersionsMixin`` goes before ``admin.ModelAdmin`` in ``AgentAdmin``: it records one version per admin save
(the agent's fields, its inlines and its tools together) and adds the pages under ``/admin/agents/agent/<id>/``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from agents import versioning
from agents.models import Agent
from agents.version_diff import diff_snapshots
from agents.versions import AgentVersion


class AgentVersionsMixin(admin.ModelAdmin):
    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        own = [
            path("<int:agent_id>/versions/", view(self.versions_view), name="agents_agent_versions"),
            path("<int:agent_id>/versions/compare/", view(self.compare_view), name="agents_agent_version_diff"),
            path("<int:agent_id>/versions/<int:number>/", view(self.version_view), name="agents_agent_version"),
            path(
                "<int:agent_id>/versions/<int:number>/restore/",
                view(require_POST(self.restore_view)),
                name="agents_agent_version_restore",
            ),
            path("<int:agent_id>/publish/", view(require_POST(self.publish_view)), name="agents_agent_publish"),
        ]
        return own + super().get_urls()

    def get_fieldsets(self, request: HttpRequest, obj: Agent | None = None) -> list:
        """The fieldsets with "edits are drafts" and "publish only tested versions" beside the version (unless a
        fieldset already shows them)."""
        fieldsets = list(super().get_fieldsets(request, obj))
        shown = {name for _, options in fieldsets for name in flatten(options.get("fields", ()))}
        if fieldsets and (extra := [f for f in ("drafts", "publish_after_scenarios") if f not in shown]):
            name, options = fieldsets[0]
            fieldsets[0] = (name, {**options, "fields": [*options.get("fields", ()), *extra]})
        return fieldsets

    # ---- one save, one version ----
    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        obj.defer_versioning = True  # recorded in save_related, once the inlines and tools are saved too
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        agent: Agent = form.instance
        agent.defer_versioning = False
        version = versioning.record_version(agent, user=request.user)
        versioning.sync_published(agent)  # drafts just turned on or off
        if version is not None and change and versioning.draft_differs(agent):
            live = agent.published_version
            messages.info(
                request,
                f"Saved as the draft, version {version.number}: calls still run version "
                f"{live.number if live else '?'} until you publish it (test numbers run the draft).",
            )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        agent = Agent.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if agent is not None:
            can_change = self.has_change_permission(request, agent)
            extra_context = {**(extra_context or {}), **self._status(agent), "can_change": can_change}
        return super().change_view(request, object_id, form_url, extra_context)

    def _status(self, agent: Agent) -> dict[str, Any]:
        live = versioning.live_version(agent)
        latest = versioning.latest_version(agent)
        return {
            "agent": agent,
            "live_version": live,
            "latest_version": latest,
            "draft_differs": versioning.draft_differs(agent),
            "version_count": AgentVersion.objects.filter(agent=agent).count(),
        }

    # ---- pages ----
    def _agent(self, request: HttpRequest, agent_id: int, change: bool = False) -> Agent:
        agent = get_object_or_404(Agent, pk=agent_id)
        allowed = self.has_change_permission(request, agent) if change else self.has_view_permission(request, agent)
        if not allowed:
            raise PermissionDenied
        return agent

    def _context(self, request: HttpRequest, agent: Agent, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": agent,
            "agent": agent,
            "title": title,
            "can_change": self.has_change_permission(request, agent),
            **self._status(agent),
        }

    def versions_view(self, request: HttpRequest, agent_id: int) -> HttpResponse:
        agent = self._agent(request, agent_id)
        versions = list(AgentVersion.objects.filter(agent=agent).select_related("created_by").order_by("-number"))
        calls = dict(agent.calls.values("agent_version").annotate(n=Count("id")).values_list("agent_version", "n"))
        live = versioning.live_version(agent)
        rows = [
            {
                "version": v,
                "calls": calls.get(v.number, 0),
                "live": live is not None and v.pk == live.pk,
                "published": agent.drafts and v.pk == agent.published_version_id,
                "draft": agent.drafts and versions and v.pk == versions[0].pk and v.pk != agent.published_version_id,
            }
            for v in versions
        ]
        context = self._context(request, agent, f"Versions of {agent}") | {"rows": rows}
        return TemplateResponse(request, "admin/agents/agent/versions.html", context)

    def _version(self, agent: Agent, number: int) -> AgentVersion:
        version = AgentVersion.objects.filter(agent=agent, number=number).select_related("created_by").first()
        if version is None:
            raise Http404(f"{agent} has no recorded version {number} (it may predate the version history).")
        return version

    def version_view(self, request: HttpRequest, agent_id: int, number: int) -> HttpResponse:
        agent = self._agent(request, agent_id)
        version = AgentVersion.objects.filter(agent=agent, number=number).select_related("created_by").first()
        if version is None:
            messages.warning(
                request,
                f"Version {number} of {agent} is not recorded: it ran before the version history began "
                "(each call's page still shows the configuration it ran with).",
            )
            return HttpResponseRedirect(reverse("admin:agents_agent_versions", args=[agent.pk]))
        previous = AgentVersion.objects.filter(agent=agent, number__lt=number).order_by("-number").first()
        context = self._context(request, agent, f"{agent}: version {number}") | {
            "version": version,
            "previous": previous,
            "diff": diff_snapshots(previous.snapshot, version.snapshot) if previous else None,
            "snapshot_json": json.dumps(version.snapshot, indent=2, ensure_ascii=False, sort_keys=True),
        }
        return TemplateResponse(request, "admin/agents/agent/version.html", context)

    def compare_view(self, request: HttpRequest, agent_id: int) -> HttpResponse:
        agent = self._agent(request, agent_id)
        numbers = list(AgentVersion.objects.filter(agent=agent).order_by("-number").values_list("number", flat=True))
        if not numbers:
            raise Http404(f"{agent} has no versions yet.")
        old_n = _number(request.GET.get("old"), numbers[1] if len(numbers) > 1 else numbers[0])
        new_n = _number(request.GET.get("new"), numbers[0])
        old, new = self._version(agent, old_n), self._version(agent, new_n)
        context = self._context(request, agent, f"{agent}: version {old_n} → version {new_n}") | {
            "old": old,
            "new": new,
            "numbers": numbers,
            "diff": diff_snapshots(old.snapshot, new.snapshot),
        }
        return TemplateResponse(request, "admin/agents/agent/compare.html", context)

    # ---- actions ----
    def restore_view(self, request: HttpRequest, agent_id: int, number: int) -> HttpResponse:
        agent = self._agent(request, agent_id, change=True)
        old = self._version(agent, number)
        restored = versioning.restore(agent, old, user=request.user)
        for warning in restored.warnings:
            messages.warning(request, warning)
        if restored.version is None:
            messages.info(request, f"The configuration already equals version {number}: no new version.")
        else:
            where = " as the draft (publish it to let calls run it)" if versioning.draft_differs(agent) else ""
            messages.success(request, f"Restored version {number}{where}: it is now version {restored.version.number}.")
        return HttpResponseRedirect(reverse("admin:agents_agent_versions", args=[agent.pk]))

    def publish_view(self, request: HttpRequest, agent_id: int) -> HttpResponse:
        agent = self._agent(request, agent_id, change=True)
        back = reverse("admin:agents_agent_change", args=[agent.pk])
        if not agent.drafts:
            messages.error(request, "This agent has drafts off: every saved change already takes the next call.")
            return HttpResponseRedirect(back)
        raw = request.POST.get("number", "")
        version = self._version(agent, _number(raw, 0)) if raw else None
        try:
            published = versioning.publish(agent, version)
        except versioning.PublishRefused as refused:
            messages.error(request, str(refused))
            return HttpResponseRedirect(back if raw == "" else reverse("admin:agents_agent_versions", args=[agent.pk]))
        messages.success(request, f"Published version {published.number}: the next calls run it.")
        return HttpResponseRedirect(back if raw == "" else reverse("admin:agents_agent_versions", args=[agent.pk]))


def _number(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default

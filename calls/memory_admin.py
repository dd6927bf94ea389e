"""Caller memory in the admin: per agent and number, the notes and the remembered summaries; "Erase memory"
deletes the notes and takes the caller's calls out of memory (privacy: the calls themselves stay)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from agents.memory import CallerNote
from agents.models import Agent
from calls.memory import calls_with, erase_memory, memory_number, notes_of
from calls.models import Call

ERASE_PERMISSION = "agents.delete_callernote"


def erase_pairs(request: HttpRequest, pairs: set[tuple[int, str]]) -> None:
    notes = calls = 0
    for agent_id, number in sorted(pairs):
        deleted, forgotten = erase_memory(agent_id, number)
        notes, calls = notes + deleted, calls + forgotten
    callers = ", ".join(sorted({number for _, number in pairs}))
    messages.success(
        request, f"Erased the memory of {callers}: {notes} note(s) deleted, {calls} call summary(ies) forgotten."
    )


@admin.action(description="Erase these callers' memory (notes and remembered summaries)")
def erase_caller_memory_of_calls(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Call]) -> None:
    """On the calls list: forget the other party of each selected call, with that call's agent."""
    if not request.user.has_perm(ERASE_PERMISSION):
        raise PermissionDenied
    erase_pairs(request, {(c.agent_id, memory_number(c)) for c in queryset if c.agent_id and memory_number(c)})


@admin.register(CallerNote)
class CallerMemoryAdmin(admin.ModelAdmin):
    list_display = ["number", "agent", "text", "created_at", "memory_link"]
    list_filter = ["agent"]
    search_fields = ["number", "text"]
    actions = ["erase_memory"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CallerNote | None = None) -> bool:
        return False

    @admin.display(description="caller memory")
    def memory_link(self, note: CallerNote) -> str:
        url = reverse("admin:calls_caller_memory") + "?" + urlencode({"agent": note.agent_id, "number": note.number})
        return format_html('<a href="{}">Notes and summaries</a>', url)

    @admin.action(description="Erase these callers' memory (notes and remembered summaries)", permissions=["delete"])
    def erase_memory(self, request: HttpRequest, queryset: QuerySet[CallerNote]) -> None:
        erase_pairs(request, set(queryset.values_list("agent_id", "number")))

    def get_urls(self):
        view = self.admin_site.admin_view(self.memory_view)
        return [path("memory/", view, name="calls_caller_memory"), *super().get_urls()]

    def memory_view(self, request: HttpRequest) -> HttpResponse:
        """One caller's memory with one agent (?agent=<id>&number=<number>); POST erases it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        agent_id = request.GET.get("agent") or ""
        agent = get_object_or_404(Agent, pk=int(agent_id)) if agent_id.isdigit() else None
        number = (request.GET.get("number") or "").strip()
        if request.method == "POST" and agent and number:
            if not request.user.has_perm(ERASE_PERMISSION):
                raise PermissionDenied
            erase_pairs(request, {(agent.pk, number)})
            return HttpResponseRedirect(request.get_full_path())
        calls = notes = None
        if agent and number:
            notes = list(notes_of(agent.pk, number))
            calls = list(
                calls_with(agent.pk, number).filter(in_memory=True).exclude(summary="").order_by("-created_at")
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Caller memory: {number}" if number else "Caller memory",
            "opts": self.model._meta,
            "agents": Agent.objects.order_by("name"),
            "agent": agent,
            "number": number,
            "notes": notes,
            "calls": calls,
            "can_erase": request.user.has_perm(ERASE_PERMISSION),
        }
        return TemplateResponse(request, "admin/calls/caller_memory.html", context)

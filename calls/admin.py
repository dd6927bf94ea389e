"""Read-only admin for calls: what happened stays as it happened."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from calls import agent_list  # noqa: F401 - the agent list with what runs on each next call
from calls.api import key_admin  # noqa: F401 - registers the API keys
from calls.campaigns import admin as campaign_admin  # noqa: F401 - registers campaigns and do-not-call
from calls.memory_admin import erase_caller_memory_of_calls
from calls.models import Call, CallEvent, Turn
from calls.scenario_admin import ScenarioAdmin  # noqa: F401 - registers scenarios and their runs
from calls.tasks import finalize_call


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class TurnInline(ReadOnlyMixin, admin.TabularInline):
    model = Turn
    extra = 0
    fields = ["sequence", "role", "text", "heard_text", "interrupted", "start_ms", "end_ms", "latency"]
    readonly_fields = fields


class CallEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CallEvent
    extra = 0
    fields = ["time", "kind", "data"]
    readonly_fields = fields


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "from_number",
        "to_number",
        "agent",
        "direction",
        "status",
        "duration_seconds",
        "sentiment",
    ]
    list_filter = ["status", "direction", "agent", "sentiment", "created_at"]
    search_fields = ["call_uuid", "from_number", "to_number", "summary", "turns__text"]
    date_hierarchy = "created_at"
    inlines = [TurnInline, CallEventInline]
    actions = ["rerun_analysis", erase_caller_memory_of_calls]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [f.name for f in Call._meta.fields]

    @admin.action(description="Re-run analysis (summary, sentiment, extracted data)")
    def rerun_analysis(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        Call.objects.filter(pk__in=ids).update(analysis_status=Call.Analysis.PENDING)
        for call_id in ids:
            transaction.on_commit(lambda call_id=call_id: finalize_call.delay(call_id))
        self.message_user(request, f"Analysis queued for {len(ids)} call(s).", messages.SUCCESS)


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["time", "call", "kind"]
    list_filter = ["kind"]
    search_fields = ["call__call_uuid"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [f.name for f in CallEvent._meta.fields]

"""Admin for agents, their knowledge and phone numbers."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from agents.models import Agent, ExtractionField, FaqEntry, PhoneNumber
from agents.validators import validate_webhook_url


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 1
    fields = ["number", "label", "enabled"]


class FaqEntryInline(admin.StackedInline):
    model = FaqEntry
    extra = 0
    fields = [("question", "keywords"), "answer", "position"]


class ExtractionFieldInline(admin.TabularInline):
    model = ExtractionField
    extra = 0
    fields = ["name", "type", "description"]


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = "__all__"

    def clean_webhook_url(self) -> str:
        """Only http(s) URLs of public hosts (``agents.webhook_targets``): checked again before each delivery."""
        url = self.cleaned_data["webhook_url"]
        validate_webhook_url(url)
        return url


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = [
        "name",
        "enabled",
        "language",
        "voice",
        "llm_provider",
        "llm_model",
        "number_count",
        "version",
        "updated_at",
    ]
    list_filter = [
        "enabled",
        "language",
        "stt_provider",
        "llm_provider",
        "tts_provider",
        "barge_in_enabled",
        "record_calls",
    ]
    search_fields = ["name", "slug", "system_prompt", "greeting", "phone_numbers__number"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [PhoneNumberInline, FaqEntryInline, ExtractionFieldInline]
    actions = ["duplicate_agents"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "enabled", "version"]}),
        ("Persona", {"fields": ["system_prompt", "greeting", "goodbye_message"]}),
        ("Voice and language", {"fields": ["language", "voice", "speaking_rate"]}),
        (
            "Providers",
            {
                "fields": ["stt_provider", "llm_provider", "tts_provider", "llm_model", "temperature", "max_tokens"],
                "description": "“Auto” uses Azure Speech / OpenAI when their keys are configured, "
                "otherwise the offline engines (no AI).",
            },
        ),
        (
            "Turn-taking",
            {
                "fields": [
                    "end_of_speech_ms",
                    "barge_in_enabled",
                    "interruption_mode",
                    "barge_in_min_speech_ms",
                    "preemptive_reply",
                    "silence_timeout_seconds",
                    "reprompt_text",
                    "max_reprompts",
                    "fallback_line",
                ]
            },
        ),
        (
            "Ending and transfer",
            {"fields": ["end_call_phrases", "max_call_seconds", "transfer_number", "transfer_line"]},
        ),
        ("After the call", {"fields": ["record_calls", "summary_instructions", "webhook_url", "webhook_secret"]}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).annotate(_numbers=Count("phone_numbers"))

    @admin.display(description="numbers", ordering="_numbers")
    def number_count(self, agent: Agent) -> int:
        return agent._numbers

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if change and any(fs.has_changed() for fs in formsets if fs.model is not PhoneNumber):
            form.instance.bump_version()

    @admin.action(description="Duplicate selected agents (copies start disabled, without numbers)")
    def duplicate_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        copies = [agent.duplicate() for agent in queryset]
        self.message_user(
            request,
            f"Created {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: " + ", ".join(c.name for c in copies),
            messages.SUCCESS,
        )


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ["number", "label", "agent", "enabled"]
    list_filter = ["enabled", "agent"]
    search_fields = ["number", "label", "agent__name"]
    autocomplete_fields = ["agent"]

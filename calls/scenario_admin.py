"""Admin for scenarios (script and expectations as validated JSON, "run now") and their runs (pass/fail per
expectation, transcript, latencies; replays: the original beside the new, turn by turn)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import expectations, runs, script

STATUS_MARK = {"passed": "✅ passed", "failed": "❌ failed", "error": "⚠️ error", "running": "… running"}


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = ["agent", "name", "script", "expectations", "caller_persona", "caller_goal", "max_turns"]
        help_texts = {
            "caller_persona": "A simulated caller (needs an OpenAI-compatible LLM where the scenario runs): who "
            "they are, e.g. “Sam, a busy parent, polite but in a hurry”. With script lines too, the lines come first.",
            "caller_goal": "What they want; they talk until it is met (or the agent ends the call), e.g. “find out "
            "the opening hours and whether there is parking”.",
            "max_turns": "The simulated caller's lines at most (script lines not counted).",
        }
        widgets = {
            "script": forms.Textarea(attrs={"rows": 8, "cols": 90, "style": "font-family: monospace"}),
            "expectations": forms.Textarea(attrs={"rows": 8, "cols": 90, "style": "font-family: monospace"}),
        }

    def clean_script(self) -> list:
        value = self.cleaned_data.get("script")
        if problems := script.validate(value if value is not None else []):
            raise forms.ValidationError(problems)
        return value or []

    def clean_expectations(self) -> list:
        value = self.cleaned_data.get("expectations")
        if problems := expectations.validate(value if value is not None else []):
            raise forms.ValidationError(problems)
        return value or []

    def clean(self) -> dict:
        data = super().clean()
        if self.errors.get("script"):
            return data
        persona, goal = data.get("caller_persona") or "", data.get("caller_goal") or ""
        for problem in script.validate_caller(data.get("script") or [], persona, goal):
            field = "script"  # the field that lacks something: the script, or the persona or goal of the pair
            if bool(persona.strip()) != bool(goal.strip()):
                field = "caller_goal" if persona.strip() else "caller_persona"
            self.add_error(field, problem)
        return data


def base_url(request: HttpRequest) -> str:
    """The server that served the admin page: the simulated calls go to it."""
    return request.build_absolute_uri("/").rstrip("/")


def start_runs(request: HttpRequest, scenarios: QuerySet[Scenario], *, draft: bool) -> None:
    started = [runs.start_run(s, draft=draft, started_by=request.user) for s in scenarios]
    for run in started:
        runs.queue_run(run, base_url(request))
    finished = ScenarioRun.objects.filter(pk__in=[r.pk for r in started]).exclude(status=ScenarioRun.Status.RUNNING)
    counts = {status: finished.filter(status=status).count() for status in ("passed", "failed", "error")}
    if finished.count() == len(started):  # eager (dev): done already
        level = messages.SUCCESS if counts["passed"] == len(started) else messages.WARNING
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        messages.add_message(request, level, f"Ran {len(started)} scenario(s): {summary}. See the runs below.")
    else:
        messages.info(request, f"Started {len(started)} scenario run(s); refresh to see their results.")


class ScenarioRunInline(admin.TabularInline):
    model = ScenarioRun
    fk_name = "scenario"
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["run_link", "status", "draft", "agent_version", "failed", "started_at"]
    readonly_fields = fields
    ordering = ["-started_at"]

    @admin.display(description="run")
    def run_link(self, run: ScenarioRun) -> SafeString:
        return format_html('<a href="{}">#{}</a>', reverse("admin:calls_scenariorun_change", args=[run.pk]), run.pk)

    @admin.display(description="failed expectations")
    def failed(self, run: ScenarioRun) -> str:
        if run.status == ScenarioRun.Status.ERROR:
            return run.error
        return "; ".join(f"{r['expectation']}: {r['detail']}" for r in runs.failed_expectations(run)) or "—"


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioForm
    list_display = ["name", "agent", "steps", "expectation_count", "last_run"]
    list_filter = ["agent"]
    search_fields = ["name"]
    inlines = [ScenarioRunInline]
    actions = ["run_now", "run_draft"]

    @admin.display(description="caller")
    def steps(self, scenario: Scenario) -> str:
        lines = f"{len(scenario.script or [])} step(s)" if scenario.script else ""
        if script.simulated(scenario.caller_persona, scenario.caller_goal):
            return " + ".join(filter(None, [lines, f"simulated caller (≤ {scenario.max_turns} turns)"]))
        return lines or "—"

    @admin.display(description="expectations")
    def expectation_count(self, scenario: Scenario) -> int:
        return len(scenario.expectations or [])

    @admin.display(description="last run")
    def last_run(self, scenario: Scenario) -> str:
        run = scenario.runs.order_by("-started_at").first()
        return STATUS_MARK.get(run.status, run.status) if run else "never"

    @admin.action(description="Run now (what calls run)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        start_runs(request, queryset, draft=False)

    @admin.action(description="Run now against the draft")
    def run_draft(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        start_runs(request, queryset, draft=True)


@admin.register(ScenarioRun)
class ScenarioRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "scenario", "agent", "draft", "status_mark", "started_at"]
    list_filter = ["kind", "status", "agent"]
    fields = [
        "kind", "scenario", "agent", "agent_version", "draft", "source_call", "call_link", "status", "error",
        "results_table", "transcript_table", "latencies_text", "started_by", "started_at", "finished_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status_mark(self, run: ScenarioRun) -> str:
        return STATUS_MARK.get(run.status, run.status)

    @admin.display(description="call")
    def call_link(self, run: ScenarioRun) -> SafeString | str:
        if run.call_id is None:
            return "—"
        return format_html('<a href="{}">call {}</a>', reverse("call-detail", args=[run.call_id]), run.call_id)

    @admin.display(description="results")
    def results_table(self, run: ScenarioRun) -> SafeString | str:
        if run.kind == ScenarioRun.Kind.REPLAY:
            link = reverse("call-replay-run", args=[run.pk])
            return format_html('<a href="{}">the original beside the replay, turn by turn</a>', link)
        if not run.results:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((STATUS_MARK["passed" if r["passed"] else "failed"], r["expectation"], r["detail"]) for r in run.results),
        )
        return format_html("<table><tr><th>result</th><th>expectation</th><th>why</th></tr>{}</table>", rows)

    @admin.display(description="transcript")
    def transcript_table(self, run: ScenarioRun) -> SafeString | str:
        if not run.transcript:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (t.get("role"), t.get("text"), (t.get("latency") or {}).get("voice_to_voice_ms", ""))
                for t in run.transcript
            ),
        )
        return format_html("<table><tr><th>who</th><th>said</th><th>voice-to-voice ms</th></tr>{}</table>", rows)

    @admin.display(description="latencies")
    def latencies_text(self, run: ScenarioRun) -> str:
        return json.dumps(run.latencies or {}, indent=1) if run.latencies else "—"

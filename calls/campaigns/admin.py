"""Campaigns in the admin: create one with its CSV (a per-row report after the upload), start / pause / resume /
cancel, progress columns, the rows with their outcome, call and extracted fields, the results CSV; do-not-call
numbers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from agents.phone import normalize_phone
from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.campaigns import control, csv_import, windows
from calls.campaigns.export import results_csv

REPORT_LINES = 100  # problems listed in the upload message (all of them are stored on the rows)


class CampaignForm(forms.ModelForm):
    csv_file = forms.FileField(
        required=False,
        label="List (CSV)",
        help_text="A “phone” column (with country code, e.g. +14155550199) and one column per variable the agent's "
        "lines use, e.g. phone,name. UTF-8. Bad rows are kept as skipped with their reason. On a campaign that "
        "has its list: another list, added after it (numbers already in the campaign are called once).",
    )

    class Meta:
        model = Campaign
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        problems = windows.validate_window(
            data.get("window_days"), data.get("window_start"), data.get("window_end"), data.get("timezone", "")
        )
        for name, message in problems.items():
            self.add_error(name, message)
        upload = data.get("csv_file")
        closed = self.instance.status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED)
        if upload is None and self.instance.pk is None:
            self.add_error("csv_file", "Upload the list to call.")
        elif upload is not None and closed:
            self.add_error("csv_file", f"This campaign is {self.instance.status}: create a new campaign to call more.")
        elif upload is not None and data.get("agent") is not None:
            try:
                self.records = csv_import.read_csv(upload.read(), data["agent"])
            except csv_import.CsvRefused as exc:
                self.add_error("csv_file", exc.message)
        return data


def action(name: str, label: str):
    @admin.action(description=label)
    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                control.apply(campaign.pk, name)
            except control.CampaignError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
            else:
                modeladmin.message_user(request, f"Campaign “{campaign}”: {control.past(name)}.", messages.SUCCESS)

    run.__name__ = f"{name}_campaigns"
    return run


def counter(key: str, label: str):
    def show(modeladmin: admin.ModelAdmin, campaign: Campaign) -> int:
        return getattr(campaign, f"rows_{key}", 0)

    show.short_description = label  # type: ignore[attr-defined]
    show.__name__ = f"count_{key}"
    return show


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = [
        "name",
        "agent",
        "status",
        "count_total",
        "count_pending",
        "count_in_progress",
        "count_reached",
        "count_voicemail",
        "count_no_answer",
        "count_failed",
        "created_at",
    ]
    list_filter = ["status", "agent"]
    search_fields = ["name"]
    readonly_fields = ["status", "started_at", "finished_at", "progress", "results"]
    actions = [
        action("start", "Start the selected campaigns"),
        action("pause", "Pause (calls in progress finish; no new ones)"),
        action("resume", "Resume"),
        action("cancel", "Cancel (rows not yet called are cancelled)"),
    ]
    fieldsets = [
        (None, {"fields": ["name", "agent", "from_number", "csv_file", "status", "progress", "results"]}),
        ("Calling window", {"fields": ["window_days", "window_start", "window_end", "timezone"]}),
        (
            "Pace and retries",
            {
                "fields": [
                    "max_concurrent",
                    "max_attempts",
                    "retry_delay_minutes",
                    "retry_no_answer",
                    "retry_busy",
                    "retry_voicemail",
                ]
            },
        ),
        ("Times", {"fields": ["started_at", "finished_at"]}),
    ]
    count_total = counter("total", "rows")
    count_pending = counter("pending", "pending")
    count_in_progress = counter("in_progress", "in progress")
    count_reached = counter("reached", "reached")
    count_voicemail = counter("voicemail", "voicemail")
    count_no_answer = counter("no_answer", "no answer")
    count_failed = counter("failed", "failed")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return super().get_queryset(request).select_related("agent").annotate(**control.progress_annotations())

    @admin.display(description="progress")
    def progress(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return "-"
        counts = control.progress(campaign)
        return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items())

    @admin.display(description="results")
    def results(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return "-"
        rows = reverse("admin:calls_campaignrow_changelist") + "?" + urlencode({"campaign__id__exact": campaign.pk})
        download = reverse("admin:calls_campaign_results", args=[campaign.pk])
        return format_html(
            '<a href="{}">Rows and outcomes</a> · <a href="{}">Download results (CSV)</a>', rows, download
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form: CampaignForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user if request.user.is_authenticated else None
        super().save_model(request, obj, form, change)
        records = getattr(form, "records", None)
        if records is not None:
            try:
                report = csv_import.import_records(obj, records)  # a campaign with rows: appended after them
            except csv_import.CampaignClosed as exc:  # it ended between the form's check and now
                self.message_user(request, exc.message, messages.ERROR)
                return
            self.message_user(
                request, report_message(report), messages.WARNING if report.problems else messages.SUCCESS
            )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.results_view)
        return [path("<int:pk>/results.csv", view, name="calls_campaign_results"), *super().get_urls()]

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign.objects.select_related("agent"), pk=pk)
        response = StreamingHttpResponse(
            results_csv(campaign, request.build_absolute_uri("/")[:-1]), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-results.csv"'
        return response


def report_message(report: csv_import.ImportReport) -> str:
    if not report.problems:
        return report.summary()
    shown = report.problems[:REPORT_LINES]
    items = format_html_join(
        "", "<li>Line {}: {} — {} ({})</li>", ((p.line, p.phone or "(empty)", p.error, p.stored) for p in shown)
    )
    more = (
        f" …and {len(report.problems) - len(shown)} more (see the skipped rows)."
        if len(report.problems) > len(shown)
        else ""
    )
    return format_html("{} Rows with problems:<ul>{}</ul>{}", report.summary(), items, more)


@admin.register(CampaignRow)
class CampaignRowAdmin(admin.ModelAdmin):
    list_display = [
        "position",
        "phone",
        "campaign",
        "status",
        "outcome",
        "attempts",
        "next_attempt_at",
        "call",
        "error",
    ]
    list_filter = ["campaign", "status", "outcome"]
    search_fields = ["phone"]
    list_select_related = ["last_call", "campaign"]
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CampaignRow | None = None) -> bool:
        return False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        """With one campaign chosen, its agent's extracted fields are columns too."""
        shown: list[Any] = list(self.list_display)
        campaign = (
            Campaign.objects.filter(pk=request.GET.get("campaign__id__exact") or 0).select_related("agent").first()
        )
        if campaign is not None:
            shown += [
                extracted_column(name) for name in campaign.agent.extraction_fields.values_list("name", flat=True)
            ]
        return shown

    @admin.display(description="call")
    def call(self, row: CampaignRow) -> str:
        if row.last_call_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("call-detail", args=[row.last_call_id]), row.last_call.status)


def extracted_column(name: str):
    def show(row: CampaignRow) -> Any:
        return ((row.last_call.extracted_data or {}) if row.last_call else {}).get(name, "")

    show.short_description = name  # type: ignore[attr-defined]
    show.__name__ = f"extracted_{name}"
    return show


class DoNotCallForm(forms.ModelForm):
    number = forms.CharField(max_length=64, help_text="With its country code, e.g. +1 415 555 0100.")

    class Meta:
        model = DoNotCall
        fields = ["number", "reason"]

    def clean_number(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["number"])
        except ValidationError as exc:
            raise ValidationError(exc.messages[0]) from None


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    form = DoNotCallForm
    list_display = ["number", "reason", "added_at"]
    search_fields = ["number", "reason"]

"""A campaign's results as CSV: one line per row, its outcome, its last call, the variables it was called with and
the agent's extracted fields as columns (spreadsheet-safe cells)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.urls import reverse

from calls.campaign_models import Campaign, CampaignRow
from calls.export import csv_safe

FIXED = ["line", "phone", "status", "outcome", "attempts", "next_attempt_at", "error", "call_id", "call_url"]
CALL = ["call_status", "answered_by", "started_at", "duration_s", "summary"]


class Echo:
    def write(self, value: str) -> str:
        return value


def columns(campaign: Campaign) -> tuple[list[str], list[str]]:
    """(variable names, extracted field names) in a stable order."""
    variables: dict[str, None] = {}
    for row_vars in campaign.rows.values_list("variables", flat=True).iterator():
        variables.update(dict.fromkeys(row_vars or {}))
    fields = list(campaign.agent.extraction_fields.values_list("name", flat=True))
    return list(variables), fields


def row_values(row: CampaignRow, variables: list[str], fields: list[str], base: str) -> list[Any]:
    call = row.last_call
    extracted = (call.extracted_data or {}) if call else {}
    values: list[Any] = [
        row.position,
        row.phone,
        row.status,
        row.outcome,
        row.attempts,
        row.next_attempt_at.isoformat() if row.next_attempt_at else "",
        row.error,
        call.pk if call else "",
        base + reverse("call-detail", args=[call.pk]) if call else "",
    ]
    values += [
        call.status if call else "",
        call.answered_by if call else "",
        call.created_at.isoformat() if call else "",
        call.duration_seconds if call and call.duration_seconds is not None else "",
        call.summary if call else "",
    ]
    values += [(row.variables or {}).get(name, "") for name in variables]
    values += [extracted.get(name, "") for name in fields]
    return [csv_safe(v if not isinstance(v, (dict, list)) else str(v)) for v in values]


def results_csv(campaign: Campaign, base: str = "") -> Iterator[str]:
    """The CSV, line by line (for a StreamingHttpResponse); ``base``: the site's address for call links."""
    variables, fields = columns(campaign)
    writer = csv.writer(Echo())
    yield writer.writerow(FIXED + CALL + [f"var_{n}" for n in variables] + [f"extracted_{n}" for n in fields])
    rows = campaign.rows.select_related("last_call").order_by("position", "pk")
    for row in rows.iterator(chunk_size=500):
        yield writer.writerow(row_values(row, variables, fields, base))

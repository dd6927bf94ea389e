"""A campaign's list: a CSV file (a ``phone`` column plus any variables) or JSON rows, checked row by row.

Problems with the whole file (not UTF-8, no ``phone`` column, a column that is not a variable name, a variable the
agent's lines need with no column, too big) refuse the upload: nothing is stored. Problems with one row never stop
the others and are never dropped: the row is stored as ``skipped`` with its error (a do-not-call number too, with
the outcome ``do-not-call``), except a repeated number, which is called once and reported as a duplicate of its
first line. ``ImportReport.problems`` lists every such row with its line number and reason. A second list for the
same campaign is appended after the first (a number already in the campaign is a duplicate).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agents import templating
from agents.models import Agent
from agents.phone import normalize_phone
from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.campaigns.windows import number_zones, zone_key
from calls.outbound import PlaceCallError, checked_variables

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
PHONE = "phone"
NO_ZONE = "No time zone is known for this number: set the campaign's time zone."
ON_DNC = "On the do-not-call list."


class CsvRefused(Exception):
    """The whole upload is refused (nothing stored)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Problem:
    line: int
    phone: str  # as written
    error: str
    stored: str  # "skipped" (stored as a skipped row) or "duplicate" (not stored: the number is called once)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "phone": self.phone, "error": self.error, "stored": self.stored}


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0  # rows to call
    skipped: int = 0
    duplicates: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "to_call": self.created,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "problems": [p.as_dict() for p in self.problems],
        }

    def summary(self) -> str:
        return (
            f"{self.lines} row(s) read: {self.created} to call, {self.skipped} skipped, {self.duplicates} duplicate(s)."
        )


def needed_variables(agent: Agent) -> list[str]:
    """The placeholders of the agent's lines that a row must give (built-in ones are filled by the call)."""
    names = templating.find_all(str(getattr(agent, name) or "") for name in templating.TEMPLATED)
    return sorted(names - set(templating.BUILT_IN))


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise CsvRefused(f"The file is too big (at most {MAX_BYTES // (1024 * 1024)} MB).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRefused("The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again.") from None


def read_csv(data: bytes, agent: Agent) -> list[tuple[int, dict[str, str]]]:
    """The file's records as (line number, {column: value}); ``CsvRefused`` for a problem with the whole file."""
    text = decode(data)
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader, [])]
        records = list(numbered(reader))
    except csv.Error as exc:
        raise CsvRefused(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    columns = check_header(header, agent)
    if not records:
        raise CsvRefused("The file has no rows under its header.")
    rows = []
    for line, values in records:
        record = {name: value.strip() for name, value in zip(columns, values, strict=False) if name}
        if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
            record["\x00count"] = f"Has {len(values)} fields; the header has {len(header)}."
        rows.append((line, record))
    return rows


def numbered(reader: Any) -> Iterable[tuple[int, list[str]]]:
    start = 2
    for values in reader:
        if len(values) > 0 and any(v.strip() for v in values):
            yield start, values
        start = reader.line_num + 1
        if start > MAX_ROWS + 2:
            raise CsvRefused(f"The file has too many rows (at most {MAX_ROWS}).")


def check_header(header: list[str], agent: Agent) -> list[str]:
    names = [PHONE if name.lower() == PHONE else name for name in header]
    if PHONE not in names:
        raise CsvRefused("The file has no “phone” column: the first line must name the columns, e.g. phone,name.")
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            continue  # an unnamed column: ignored (spreadsheets add empty trailing columns)
        if name in seen:
            raise CsvRefused(f"The column “{name}” appears twice.")
        if name != PHONE and not templating.valid_name(name):
            raise CsvRefused(
                f"Column {position} (“{name}”) is not a variable name: letters, digits and _ . -, starting with a "
                "letter or _ (at most 64 characters)."
            )
        seen.add(name)
    if absent := [n for n in needed_variables(agent) if n not in seen]:
        listed = ", ".join("{{" + n + "}}" for n in absent)
        raise CsvRefused(f"The agent's lines use {listed}: add a column for each ({', '.join(absent)}).")
    return names


def json_records(rows: object) -> list[tuple[int, dict[str, str]]]:
    """API rows (a list of objects with a ``phone`` and variables) as records numbered from 1."""
    if not isinstance(rows, list) or not rows:
        raise CsvRefused('Give the rows as a non-empty list of objects, e.g. [{"phone": "+14155550199"}].')
    if len(rows) > MAX_ROWS:
        raise CsvRefused(f"Too many rows (at most {MAX_ROWS}).")
    records = []
    for line, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            records.append((line, {"\x00count": "Not an object with a phone and variables."}))
            continue
        records.append((line, {str(k): v for k, v in row.items()}))
    return records


def check_row(record: dict[str, Any], needed: list[str], fixed_zone: str) -> tuple[str, dict[str, str], list[str]]:
    """(E.164 phone or "" when invalid, the row's variables, its errors)."""
    errors = [record.pop("\x00count")] if "\x00count" in record else []
    raw = record.pop(PHONE, "")
    raw = raw if isinstance(raw, str) else str(raw)
    phone = ""
    try:
        phone = normalize_phone(raw)
    except ValidationError as exc:
        errors.append(exc.messages[0])
    variables: dict[str, str] = {}
    try:
        variables = checked_variables(record)
    except PlaceCallError as exc:
        errors.append(exc.message)
    if absent := [n for n in needed if not str(record.get(n) or "").strip()]:
        errors.append(f"No value for {', '.join('{{' + n + '}}' for n in absent)}.")
    if phone and not fixed_zone and not number_zones(phone):
        errors.append(NO_ZONE)
    return phone, variables, errors


class CampaignClosed(Exception):
    """A cancelled or completed campaign takes no more rows."""

    def __init__(self, campaign: Campaign) -> None:
        self.message = f"This campaign is {campaign.status}: it takes no more rows. Create a new campaign."
        super().__init__(self.message)


def import_records(campaign: Campaign, records: list[tuple[int, dict[str, Any]]]) -> ImportReport:
    """Store the records as the campaign's rows (one transaction, the campaign locked); the report of what became
    of each. A campaign that has rows already gets them appended (a draft, running or paused one: a running one
    calls them in its next ticks), after its last row; a number already in the campaign is reported as a duplicate
    and called once. Raises ``CampaignClosed`` for a cancelled or completed campaign (nothing stored)."""
    needed, report = needed_variables(campaign.agent), ImportReport(lines=len(records))
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED):
            raise CampaignClosed(locked)
        earlier = dict(campaign.rows.values_list("phone", "position"))
        after = max(earlier.values(), default=0)  # positions go on after the rows already there
        rows = _rows(campaign, records, needed, earlier, after, report)
        mark_do_not_call(rows, report)
        CampaignRow.objects.bulk_create(rows, batch_size=1000)
    report.created = sum(r.status == CampaignRow.Status.PENDING for r in rows)
    report.skipped = len(rows) - report.created
    report.problems.sort(key=lambda p: p.line)
    return report


def _rows(
    campaign: Campaign,
    records: list[tuple[int, dict[str, Any]]],
    needed: list[str],
    earlier: dict[str, int],
    after: int,
    report: ImportReport,
) -> list[CampaignRow]:
    rows: list[CampaignRow] = []
    first_line: dict[str, int] = {}  # this list's numbers → their line in it
    for line, record in records:
        raw = str(record.get(PHONE, "") or "")
        phone, variables, errors = check_row(dict(record), needed, campaign.timezone)
        if phone and (phone in first_line or phone in earlier):
            report.duplicates += 1
            error = (
                f"Duplicate of line {first_line[phone]}: the number is called once."
                if phone in first_line
                else "Already in the campaign (an earlier list): the number is called once."
            )
            report.problems.append(Problem(line, raw, error, "duplicate"))
            continue
        row = CampaignRow(campaign=campaign, position=after + line, phone=phone, variables=variables)
        if phone:
            row.timezone = zone_key(number_zones(phone))
        if errors:
            row.status, row.error = CampaignRow.Status.SKIPPED, " ".join(errors)[:300]
            row.phone = stored_phone(raw, after + line, earlier, first_line)
            report.problems.append(Problem(line, raw, " ".join(errors), "skipped"))
        first_line[row.phone] = line
        rows.append(row)
    return rows


def stored_phone(raw: str, position: int, *taken: Collection[str]) -> str:
    """What a skipped row with an invalid number stores as its phone: the text as written, unique per campaign
    (``taken``: the phones already in it, looked up in place: a long list of bad rows copies nothing)."""
    text = raw.strip()[:16]
    return text if text and not any(text in phones for phones in taken) else f"line {position}"[:16]


def mark_do_not_call(rows: list[CampaignRow], report: ImportReport) -> None:
    callable_rows = {r.phone: r for r in rows if r.status == CampaignRow.Status.PENDING}
    numbers = list(callable_rows)
    blocked: set[str] = set()
    for start in range(0, len(numbers), 500):
        blocked |= set(
            DoNotCall.objects.filter(number__in=numbers[start : start + 500]).values_list("number", flat=True)
        )
    for number in blocked:
        row = callable_rows[number]
        row.status, row.outcome, row.error = CampaignRow.Status.SKIPPED, CampaignRow.Outcome.DO_NOT_CALL, ON_DNC
        report.problems.append(Problem(row.position, number, ON_DNC, "skipped"))


def import_csv(campaign: Campaign, data: bytes) -> ImportReport:
    return import_records(campaign, read_csv(data, campaign.agent))


def import_json(campaign: Campaign, rows: object) -> ImportReport:
    return import_records(campaign, json_records(rows))

"""A readable difference between two agent snapshots: field by field, long texts as unified line diffs, and the
FAQ, extraction fields, tools and transfer destinations as entries added, removed or changed."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import FieldDoesNotExist

from agents.models import Agent
from agents.versioning import IGNORED

# Each related list: its label and the key that names an entry.
SECTIONS: dict[str, tuple[str, str]] = {
    "faq": ("FAQ", "question"),
    "extraction_fields": ("Extraction fields", "name"),
    "tools": ("Tools", "name"),
    "transfer_destinations": ("Transfer destinations", "name"),
}
LONG_TEXT = 80  # a text longer than this (or with a line break) is shown as a line diff
EMPTY = "(empty)"


@dataclass(frozen=True)
class FieldChange:
    key: str
    label: str
    old: str
    new: str
    lines: tuple[str, ...] = ()  # a unified line diff ("-", "+", " " and "@@" lines) when the text is long

    @property
    def is_text(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class EntryChange:
    kind: Literal["added", "removed", "changed"]
    name: str
    fields: tuple[FieldChange, ...]  # changed: what changed; added/removed: every value (old or new side)


@dataclass(frozen=True)
class SectionChange:
    key: str
    label: str
    entries: tuple[EntryChange, ...]


@dataclass(frozen=True)
class SnapshotDiff:
    fields: tuple[FieldChange, ...]
    sections: tuple[SectionChange, ...]

    @property
    def empty(self) -> bool:
        return not self.fields and not self.sections

    def as_text(self) -> str:
        """The whole difference as plain text (what the admin page shows, minus the colours)."""
        out: list[str] = []
        for change in self.fields:
            out += _field_text(change, "")
        for section in self.sections:
            out.append(f"{section.label}:")
            for entry in section.entries:
                out.append(f"  {entry.kind} “{entry.name}”")
                for change in entry.fields:
                    out += _field_text(change, "    ", entry.kind)
        return "\n".join(out) or "No differences."


def _field_text(change: FieldChange, indent: str, kind: str = "changed") -> list[str]:
    if kind == "added":
        return [f"{indent}{change.label}: {change.new}"]
    if kind == "removed":
        return [f"{indent}{change.label}: {change.old}"]
    if change.lines:
        return [f"{indent}{change.label}:", *(f"{indent}  {line}" for line in change.lines)]
    return [f"{indent}{change.label}: {change.old} → {change.new}"]


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> SnapshotDiff:
    """What changed from ``old`` to ``new`` (a key one side lacks counts as the model's default)."""
    defaults = Agent.default_snapshot()
    before, after = defaults | dict(old), defaults | dict(new)
    keys = [k for k in after if k not in IGNORED and k not in SECTIONS and k != "memory"]
    fields = tuple(change for k in keys if (change := _change(k, _label(k), before.get(k), after.get(k))))
    sections = []
    for key, (label, name_key) in SECTIONS.items():
        entries = _entries(before.get(key) or [], after.get(key) or [], name_key)
        if entries:
            sections.append(SectionChange(key, label, entries))
    return SnapshotDiff(fields, tuple(sections))


def _label(key: str) -> str:
    try:
        name = str(Agent._meta.get_field(key).verbose_name)
    except FieldDoesNotExist:
        name = key.replace("_", " ")
    return name[:1].upper() + name[1:]


def _change(key: str, label: str, old: Any, new: Any) -> FieldChange | None:
    if old == new:
        return None
    before, after = display(old), display(new)
    if isinstance(old, str) and isinstance(new, str) and _long(old, new):
        return FieldChange(key, label, before, after, text_diff(old, new))
    return FieldChange(key, label, before, after)


def _long(*texts: str) -> bool:
    return any(len(t) > LONG_TEXT or "\n" in t for t in texts)


def text_diff(old: str, new: str) -> tuple[str, ...]:
    """A unified diff of two texts by line (two lines of context), without the file header lines."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    return tuple(line for line in lines if not line.startswith(("---", "+++")))


def display(value: Any) -> str:
    """A snapshot value as a person reads it."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _entries(old: Sequence[Mapping], new: Sequence[Mapping], name_key: str) -> tuple[EntryChange, ...]:
    before, after = _named(old, name_key), _named(new, name_key)
    changes: list[EntryChange] = []
    for key, item in after.items():
        name = str(item.get(name_key, ""))
        if key not in before:
            changes.append(EntryChange("added", name, _values(item, name_key, "new")))
        elif changed := _entry_fields(before[key], item, name_key):
            changes.append(EntryChange("changed", name, changed))
    for key, item in before.items():
        if key not in after:
            changes.append(EntryChange("removed", str(item.get(name_key, "")), _values(item, name_key, "old")))
    return tuple(changes)


def _named(items: Sequence[Mapping], name_key: str) -> dict[tuple[str, int], Mapping]:
    """Entries by (name, occurrence): two FAQ entries with the same question stay two entries."""
    seen: dict[str, int] = {}
    named = {}
    for item in items:
        name = str(item.get(name_key, ""))
        seen[name] = seen.get(name, 0) + 1
        named[(name, seen[name])] = item
    return named


def _entry_keys(*items: Mapping) -> list[str]:
    keys: list[str] = []
    for item in items:
        keys += [k for k in item if k not in keys and k != "id"]
    return keys


def _entry_fields(old: Mapping, new: Mapping, name_key: str) -> tuple[FieldChange, ...]:
    keys = [k for k in _entry_keys(new, old) if k != name_key]
    return tuple(c for k in keys if (c := _change(k, _entry_label(k), old.get(k), new.get(k))))


def _values(item: Mapping, name_key: str, side: str) -> tuple[FieldChange, ...]:
    keys = [k for k in _entry_keys(item) if k != name_key]
    shown = [(k, display(item.get(k))) for k in keys if display(item.get(k)) != EMPTY]
    if side == "new":
        return tuple(FieldChange(k, _entry_label(k), "", v) for k, v in shown)
    return tuple(FieldChange(k, _entry_label(k), v, "") for k, v in shown)


def _entry_label(key: str) -> str:
    name = key.replace("_", " ")
    return name[:1].upper() + name[1:]

"""Scenario runs as a JUnit XML report (one testcase per scenario) for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from calls.scenario_models import ScenarioRun


def seconds(run: ScenarioRun) -> float:
    if run.finished_at is None:
        return 0.0
    return round((run.finished_at - run.started_at).total_seconds(), 3)


def transcript_text(run: ScenarioRun) -> str:
    return "\n".join(f"{t.get('role')}: {t.get('text')}" for t in run.transcript or [])


def failure_message(run: ScenarioRun) -> str:
    """``must_say "nine": the agent never said it; ends hangup: no hangup (the caller hung up)``."""
    return "; ".join(f"{r['expectation']}: {r['detail']}" for r in run.results or [] if not r.get("passed"))


def report(runs: Sequence[ScenarioRun], suite: str) -> bytes:
    failures = sum(r.status == ScenarioRun.Status.FAILED for r in runs)
    errors = sum(r.status not in (ScenarioRun.Status.PASSED, ScenarioRun.Status.FAILED) for r in runs)
    total = sum(seconds(r) for r in runs)
    attrs = {"tests": str(len(runs)), "failures": str(failures), "errors": str(errors), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", attrs)
    element = ET.SubElement(root, "testsuite", {"name": suite, **attrs})
    for run in runs:
        name = run.scenario.name if run.scenario else f"run {run.pk}"
        case = ET.SubElement(element, "testcase", {"classname": suite, "name": name, "time": f"{seconds(run):.3f}"})
        if run.status == ScenarioRun.Status.FAILED:
            message = failure_message(run)
            ET.SubElement(case, "failure", {"message": message, "type": "ExpectationFailed"}).text = message
        elif run.status != ScenarioRun.Status.PASSED:
            message = run.error or f"the run ended as {run.status}"
            ET.SubElement(case, "error", {"message": message, "type": "RunError"}).text = message
        if run.transcript:
            ET.SubElement(case, "system-out").text = transcript_text(run)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"

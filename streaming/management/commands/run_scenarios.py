"""Run an agent's scenarios through the real server path and exit 0 (all passed), 1 (failures) or 2 (errors).

``manage.py run_scenarios --agent demo [--draft | --agent-version N] [--scenario NAME] [--junit out.xml] [--url URL]``.
Without ``--url`` it starts this project's daphne on a free local port (same settings, so the same database); with
``--url`` the server must share this project's database (the run prepares each call in it and reads the turns).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from agents.models import Agent
from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import junit
from calls.scenarios.runs import failed_expectations, start_run
from streaming.scenarios.execute import run_scenario
from streaming.scenarios.server import LocalServer, ServerFailed

PASSED, FAILED, ERRORS = 0, 1, 2


def find_agent(ref: str) -> Agent:
    query = Q(slug=ref) | Q(name=ref)
    if ref.isdigit():
        query |= Q(pk=int(ref))
    found = list(Agent.objects.filter(query)[:2])
    if len(found) != 1:
        known = ", ".join(Agent.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none"
        problem = "matches several agents" if found else "is no agent"
        raise CommandError(f"--agent {ref!r} {problem} (slug, name or id; agents: {known})", returncode=ERRORS)
    return found[0]


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    try:
        with LocalServer() as local:
            yield local
    except ServerFailed as exc:
        raise CommandError(f"could not start a local server: {exc}", returncode=ERRORS) from None


class Command(BaseCommand):
    help = "Run an agent's scenarios through the real engine (simulated Plivo calls); non-zero exit on failure."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--agent", required=True, help="the agent's slug, name or id")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--draft", action="store_true", help="run the agent's draft (default: what calls run)")
        which.add_argument(
            "--agent-version", dest="agent_version", type=int, metavar="N", help="run an earlier version of the agent"
        )
        parser.add_argument("--scenario", action="append", default=[], metavar="NAME", help="only these (repeatable)")
        parser.add_argument("--junit", metavar="OUT.xml", help="write a JUnit XML report (one testcase per scenario)")
        parser.add_argument("--url", help="a running server sharing this database (default: start one locally)")
        parser.add_argument("--auth-token", default=None, help="sign webhooks (default: PLIVO_AUTH_TOKEN)")

    def handle(self, *args, **options) -> None:
        for name in ("httpx", "httpcore", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
        agent = find_agent(options["agent"])
        scenarios = list(Scenario.objects.filter(agent=agent).order_by("name"))
        if wanted := options["scenario"]:
            if missing := sorted(set(wanted) - {s.name for s in scenarios}):
                raise CommandError(f"{agent} has no scenario named {', '.join(missing)}", returncode=ERRORS)
            scenarios = [s for s in scenarios if s.name in wanted]
        if not scenarios:
            raise CommandError(f"{agent} has no scenarios: add some in the admin", returncode=ERRORS)
        token = options["auth_token"] if options["auth_token"] is not None else settings.PLIVO_AUTH_TOKEN
        draft, version = options["draft"], options["agent_version"]
        label = "draft" if draft else (f"version {version}" if version is not None else "published")
        self.stdout.write(f"Running {len(scenarios)} scenario(s) of {agent} ({label})")
        runs = []
        with server(options["url"]) as url:
            for scenario in scenarios:
                run = start_run(scenario, draft=draft, version=version)
                run = run_scenario(run, base_url=url, auth_token=token or "", version=version)
                runs.append(run)
                self.show(run)
        if path := options["junit"]:
            Path(path).write_bytes(junit.report(runs, f"scenarios.{agent.slug}"))
            self.stdout.write(f"JUnit report: {path}")
        self.exit(runs)

    def show(self, run: ScenarioRun) -> None:
        name = run.scenario.name if run.scenario else f"run {run.pk}"
        if run.status == ScenarioRun.Status.PASSED:
            self.stdout.write(self.style.SUCCESS(f"PASS  {name}  ({junit.seconds(run):.1f} s)"))
            return
        if run.status == ScenarioRun.Status.FAILED:
            self.stdout.write(self.style.ERROR(f"FAIL  {name}"))
            for result in failed_expectations(run):
                self.stdout.write(f"      {result['expectation']}: {result['detail']}")
        else:
            self.stdout.write(self.style.ERROR(f"ERROR {name}: {run.error}"))
        for turn in run.transcript or []:
            self.stdout.write(f"      {turn['role'] + ':':<7} {turn['text']}")

    def exit(self, runs: list[ScenarioRun]) -> None:
        errors = sum(r.status not in (ScenarioRun.Status.PASSED, ScenarioRun.Status.FAILED) for r in runs)
        failed = sum(r.status == ScenarioRun.Status.FAILED for r in runs)
        summary = f"{len(runs) - failed - errors} passed, {failed} failed, {errors} errors"
        if errors:
            raise CommandError(summary, returncode=ERRORS)
        if failed:
            raise CommandError(summary, returncode=FAILED)
        self.stdout.write(self.style.SUCCESS(summary))

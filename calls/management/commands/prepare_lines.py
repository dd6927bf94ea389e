"""``manage.py prepare_lines``: synthesize every enabled agent's fixed lines into the shared speech store.

Saving an agent does this through Celery; run it after a deploy that changed voices or TTS providers (or when no
worker ran), so that no caller's greeting waits for a text-to-speech round trip.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent
from calls.tasks import prepare_agent_lines


class Command(BaseCommand):
    help = "Synthesize the fixed lines (greeting, goodbye, fallback, reprompt, transfer) of enabled agents."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", help="only the agent with this slug")

    def handle(self, *args: Any, **options: Any) -> None:
        agents = Agent.objects.filter(enabled=True).order_by("pk")
        if options["agent"]:
            agents = agents.filter(slug=options["agent"])
            if not agents.exists():
                raise CommandError(f"No enabled agent with the slug {options['agent']!r}.")
        for agent in agents:
            made = prepare_agent_lines(agent.pk)
            self.stdout.write(f"{agent.slug}: {made} line(s) synthesized, the others were already stored")

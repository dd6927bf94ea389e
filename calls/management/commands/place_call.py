"""``manage.py place_call --agent demo --to "+1 415 555 0199" --var name=Ana``: an outbound call by an agent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent
from calls.outbound import PlaceCallError, place_call


def parse_vars(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--var {pair!r}: write it as name=value, e.g. --var name=Ana.")
        variables[name.strip()] = value
    return variables


class Command(BaseCommand):
    help = "Place an outbound call by an agent (from its phone number), with variables for its {{placeholders}}."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", required=True, help="the agent's slug (or id)")
        parser.add_argument("--to", required=True, help='the number to call, with its country code: "+1 415 555 0199"')
        parser.add_argument(
            "--from", dest="from_number", default="", help="one of the agent's numbers (default: its first)"
        )
        parser.add_argument(
            "--var", action="append", default=[], metavar="NAME=VALUE", help="a variable (repeatable), e.g. name=Ana"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = options["agent"]
        agent = Agent.objects.filter(slug=wanted).first()
        if agent is None and wanted.isdigit():
            agent = Agent.objects.filter(pk=int(wanted)).first()
        if agent is None:
            raise CommandError(f"No agent with the slug {wanted!r}.")
        try:
            call = place_call(agent, options["to"], parse_vars(options["var"]), from_number=options["from_number"])
        except PlaceCallError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        call.refresh_from_db()
        self.stdout.write(
            f"Call {call.pk} from {call.from_number} to {call.to_number}: {call.status}"
            + (f" (request {call.request_uuid})" if call.request_uuid else "")
            + (f"; {call.error_notes}" if call.error_notes else "")
        )

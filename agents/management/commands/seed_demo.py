"""Create the demo agent, its FAQ, a demo number and an admin user. Safe to run again."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from agents.models import Agent, FaqEntry, PhoneNumber

DEMO_NUMBER = "+14155550100"
DEMO_FAQ = [
    (
        "What are your opening hours?",
        "opening hours, open, hours, close",
        "We are open Monday to Friday from nine in the morning to six in the evening.",
    ),
    (
        "Where are you located?",
        "where, address, located, location",
        "You will find us at 100 Market Street in San Francisco.",
    ),
    (
        "How much does it cost?",
        "price, cost, how much, pricing",
        "Plans start at twenty dollars a month, and the first month is free.",
    ),
]


class Command(BaseCommand):
    help = "Create the demo agent (with FAQ), the demo number and an admin user, if they do not exist."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-username", default=os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin"))

    @transaction.atomic
    def handle(self, *args, admin_username: str, **options) -> None:
        agent = self.demo_agent()
        number, created = PhoneNumber.objects.get_or_create(
            number=DEMO_NUMBER, defaults={"label": "Demo", "agent": agent}
        )
        self.stdout.write(
            f"Demo agent: {agent.name} (slug {agent.slug}); number {number.number}"
            + (" created" if created else " exists")
        )
        self.admin_user(admin_username)

    def demo_agent(self) -> Agent:
        agent = Agent.objects.filter(slug="demo").first()
        if agent:
            return agent
        agent = Agent.objects.create(
            name="Demo receptionist",
            slug="demo",
            system_prompt="You are the friendly receptionist of Example Co. Answer briefly, in one or two sentences.",
            greeting="Hello! Thanks for calling Example Co. How can I help you today?",
            goodbye_message="Thanks for calling Example Co. Goodbye!",
            summary_instructions="Summarize why the caller called and what they were told.",
        )
        for position, (question, keywords, answer) in enumerate(DEMO_FAQ):
            FaqEntry.objects.create(agent=agent, question=question, keywords=keywords, answer=answer, position=position)
        return agent

    def admin_user(self, username: str) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin user '{username}' exists.")
            return
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            self.stdout.write(f"Created admin user '{username}' with DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin user '{username}' with password: {password}  (shown once; change it in the admin)"
                )
            )

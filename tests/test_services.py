"""Real services: the Redis channel layer survives idle receives; migrations run on PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import pytest
from channels_redis.core import RedisChannelLayer
from django.core.management import call_command
from django.db import connection

from tests.conftest import need_service


async def test_redis_layer_survives_idle_receive_longer_than_6_seconds(redis_url):
    """Uses the layer exactly as settings.py configures it when REDIS_URL is set."""
    from voiceproject.settings import CHANNEL_LAYERS

    config = CHANNEL_LAYERS["default"].get("CONFIG", {"hosts": [{"address": redis_url, "socket_timeout": None}]})
    layer = RedisChannelLayer(**config)
    channel = await layer.new_channel()

    async def send_later() -> None:
        await asyncio.sleep(6.5)
        await layer.send(channel, {"type": "late.message", "n": 1})

    sender = asyncio.create_task(send_later())
    message = await asyncio.wait_for(layer.receive(channel), timeout=15)
    await sender
    assert message == {"type": "late.message", "n": 1}
    await layer.flush()


@pytest.mark.django_db
def test_migrations_applied_on_postgresql():
    url = need_service("DATABASE_URL") if os.environ.get("DATABASE_URL", "").startswith("postgres") else None
    if url is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("REQUIRE_SERVICES=1 needs DATABASE_URL=postgres://...")
        pytest.skip("DATABASE_URL is not PostgreSQL")
    assert connection.vendor == "postgresql"
    call_command("migrate", "--check", verbosity=0)  # exits non-zero when a migration is unapplied
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_preload_imports_the_sdks_auto_picks_before_the_first_call(settings):
    """The first caller of a process must not wait for an SDK's first import (0.1–0.5 s)."""
    import sys

    from streaming.providers import registry

    settings.VOICE_PROVIDER_FACTORY = registry.DEFAULT_FACTORY
    settings.AZURE_SPEECH_KEY, settings.AZURE_SPEECH_REGION = "key", "westeurope"
    settings.OPENAI_API_KEY = "sk-test"
    assert registry.preload() == [
        "streaming.providers.azure.stt.AzureSTT",
        "streaming.providers.openai.llm.OpenAILLM",
        "streaming.providers.azure.tts.AzureTTS",
    ]
    assert {"streaming.providers.azure.tts", "streaming.providers.openai.llm"} <= set(sys.modules)
    settings.VOICE_PROVIDER_FACTORY = "tests.fakes.scripted.create_scripted_providers"
    assert registry.preload() == []  # another factory: nothing of ours to load

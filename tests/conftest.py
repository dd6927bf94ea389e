"""Shared test setup: in-process channel layer and eager Celery unless a test asks for real services."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def need_service(env_name: str) -> str:
    """The service URL from the environment; skip without it, or fail under REQUIRE_SERVICES=1."""
    url = os.environ.get(env_name, "")
    if url and service_reachable(url):
        return url
    reason = f"{env_name} is not set or not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    return need_service("REDIS_URL")


@pytest.fixture(autouse=True)
def local_services(settings, tmp_path):
    """Tests run in one process by default: in-memory channel layer and cache, eager Celery, temp media."""
    from voiceproject.celery import app

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SPEECH_PREPARE_LINES = False  # the speech store tests turn it on (it calls the provider factory)
    settings.RECORDINGS_DIR = tmp_path / "media" / "recordings"
    settings.PLIVO_AUTH_ID = ""
    settings.PLIVO_AUTH_TOKEN = ""
    settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS = True  # tests post unsigned webhooks unless they set the token
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # tests that deliver to a local receiver allow it themselves
    settings.PUBLIC_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.AZURE_SPEECH_KEY = ""
    settings.AZURE_SPEECH_REGION = ""
    settings.AZURE_SPEECH_HOST = ""
    app.set_current()  # shared tasks resolve against the project's app, whatever a test created before
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    from channels.layers import channel_layers
    from django.core.cache import cache

    from streaming.reply import speech_cache

    channel_layers.backends.clear()
    speech_cache.clear()
    cache.clear()  # the Plivo nonces a test remembered (a per-process LocMemCache: never a shared Redis)
    yield
    app.conf.task_always_eager = eager
    channel_layers.backends.clear()


from tests.engine_support import scripted  # noqa: E402, F401 - the scripted-providers fixture


@pytest.fixture
def azure_fake(settings):
    """A local Azure Speech service; the real SDK reaches it through AZURE_SPEECH_HOST."""
    from tests.fakes.azure_speech import AzureSpeechFake

    with AzureSpeechFake() as fake:
        settings.AZURE_SPEECH_HOST, settings.AZURE_SPEECH_KEY = fake.url, "test-key"
        yield fake


@pytest.fixture
def openai_fake(settings):
    """A local OpenAI-compatible server; the real SDK reaches it through OPENAI_BASE_URL."""
    from tests.fakes.openai_server import OpenAIFake

    with OpenAIFake() as fake:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake.base_url, "sk-test"
        yield fake


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases. Before it drops them on PostgreSQL, the sessions the run left open are ended:
    the pool's idle connections (``DB_POOL_MIN_SIZE``) and those of threads that ended holding one (asgiref's, the
    in-process servers'), so the drop finds no other session on the database."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all(initialized_only=True):
            if connection.vendor != "postgresql":
                continue
            if connection.pool is not None:
                connection.close_pool()
            with connection._nodb_cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()",
                    [connection.settings_dict["NAME"]],
                )

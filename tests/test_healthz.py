"""/healthz names what is down: the database (503: no calls possible) or the Redis channel layer ("degraded", still
200). A real daphne server whose database cannot be reached answers /healthz and Plivo's webhooks with a short 503
(Retry-After on the webhooks), never a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import spawn_daphne
from tests.server_process import free_port, server_env

pytestmark = pytest.mark.django_db

REDIS_LAYER = "channels_redis.core.RedisChannelLayer"


def redis_layer(url: str) -> dict:
    return {"default": {"BACKEND": REDIS_LAYER, "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}]}}}


def test_redis_channel_layer_up_is_ok(client, settings, redis_url):
    settings.CHANNEL_LAYERS = redis_layer(redis_url)
    response = client.get("/healthz")
    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"ok")


def test_redis_channel_layer_down_is_degraded_but_200(client, settings):
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"degraded: channel layer (redis) unreachable")


def wait_until_answering(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url + "/healthz", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not answer (exit code {process.poll()})")


@pytest.fixture
def server_without_database(request, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """daphne on a database it cannot reach (``request.param``: a DATABASE_URL); yields its URL and log file."""
    port, log_path = free_port(), tmp_path / "daphne.log"
    env = server_env(request.param, tmp_path / "media", debug=False, DB_POOL_TIMEOUT="1", DB_CONNECT_TIMEOUT="1")
    process = spawn_daphne(port, env, log_path)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


UNREACHABLE = [
    pytest.param("sqlite:////nonexistent-directory-for-healthz/db.sqlite3", id="sqlite-unopenable"),
    pytest.param(f"postgres://postgres@127.0.0.1:{free_port()}/voice", id="postgresql-closed-port"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_without_database", UNREACHABLE, indirect=True)
def test_database_down_is_a_503_on_healthz_and_webhooks(server_without_database):
    url, log_path = server_without_database
    health = httpx.get(url + "/healthz", timeout=10)
    assert (health.status_code, health.text) == (503, "down: database unreachable")
    params = {"CallUUID": "uuid-1", "From": "14155550111", "To": "14155550100", "Direction": "inbound"}
    for path in ("/plivo/answer/", "/plivo/hangup/"):
        response = httpx.post(url + path, data=params, timeout=10)
        assert (response.status_code, response.headers["Retry-After"], response.text) == (
            503,
            "1",
            "Database temporarily unavailable; retry later.",
        )
    log = log_path.read_text(errors="replace")
    assert "Database unavailable for POST /plivo/hangup/" in log
    assert "Traceback" not in log

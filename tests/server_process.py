"""The app's ASGI server as a subprocess: one environment, one command line and one health wait for both the
live-server tests (tests/live_server.py) and the benchmark (bench/server.py), so that the two cannot drift."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ASGI_APP = "voiceproject.asgi:application"
SCRIPTED_FACTORY = "tests.fakes.scripted.create_scripted_providers"
# Never inherited from the caller's environment: real credentials and services, and whatever the settings under
# test depend on (the caller passes what it wants as ``extra``). SCRIPTED_* (the scripted providers' knobs) too.
DROPPED_ENV = frozenset(
    {
        "REDIS_URL",
        "PLIVO_AUTH_ID",
        "PLIVO_AUTH_TOKEN",
        "PLIVO_API_URL",
        "PUBLIC_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_SPEECH_KEY",
        "AZURE_SPEECH_REGION",
        "AZURE_SPEECH_HOST",
        "VOICE_PROVIDER_FACTORY",
        "DATABASE_URL",
        "DJANGO_DEBUG",
        "PLIVO_ALLOW_UNSIGNED_WEBHOOKS",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    }
)
DROPPED_PREFIXES = ("SCRIPTED_",)
# Production settings (DEBUG off) need a secret key; this one is for servers on 127.0.0.1 only.
NOT_SECRET_KEY = "bench-secret-key-not-for-production-0123456789abcdef"
# Runs the server so that it gets SIGTERM if the parent process dies without tearing down (e.g. killed by a timeout).
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG, kept across exec
if os.getppid() != int(sys.argv[1]):
    sys.exit("the test process is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, media: Path, *, debug: bool, **extra: str) -> dict[str, str]:
    """The environment of manage.py and the server: this process's, without credentials or settings that would
    leak into it (``DROPPED_ENV``), with the database, media directory and DEBUG given here, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV and not k.startswith(DROPPED_PREFIXES)}
    env |= {
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        "DJANGO_DEBUG": "1" if debug else "0",
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if not debug:
        # Production settings refuse a missing key and unsigned webhooks (voiceproject/checks.py): these servers
        # get a key of their own, and accept unsigned webhooks unless ``extra`` sets PLIVO_AUTH_TOKEN.
        env["DJANGO_SECRET_KEY"] = NOT_SECRET_KEY
        env["PLIVO_ALLOW_UNSIGNED_WEBHOOKS"] = "1"
    return env | extra


def server_command(kind: str, port: int, app: str = ASGI_APP, *, die_with_parent: bool = False) -> list[str]:
    """The production command line of ``kind`` (daphne or uvicorn), one process on 127.0.0.1:``port``.
    ``die_with_parent``: wrapped so that the server gets SIGTERM when this process dies."""
    if kind == "daphne":
        command = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
    elif kind == "uvicorn":
        command = [
            *(str(VENV_BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port)),
            *("--lifespan", "off", "--log-level", "warning", "--no-access-log"),
        ]
    else:
        raise ValueError(f"unknown server {kind!r}")
    if die_with_parent:
        return [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *command]
    return command


def manage(env: dict[str, str], *args: str, root: Path = ROOT, stdin: str | None = None, timeout: float = 300) -> str:
    """Run ``manage.py *args`` in ``root`` with ``env``; its output, or RuntimeError with both streams."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float) -> str:
    """Poll ``url``/healthz until it answers 200: returns "" then, else why not ("exited with 1", "did not answer
    /healthz in 30 s"). The caller stops the process and adds its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with {process.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return ""
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return f"did not answer /healthz in {timeout:.0f} s"

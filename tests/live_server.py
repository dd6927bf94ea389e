"""A real daphne server in a subprocess, on a free port, against its own SQLite file (for simulator tests)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DROPPED_ENV = (
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
    "SCRIPTED_TRANSCRIPTS",
    "DATABASE_URL",
)
SCRIPTED = "streaming.providers.scripted.create_scripted_providers"
# Runs the server so that it gets SIGTERM if the test process dies without tearing down (e.g. killed by a timeout).
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


def server_env(db_path: Path, media: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env |= {
        "DATABASE_URL": f"sqlite:///{db_path}",
        "MEDIA_ROOT": str(media),
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def migrated_database(path: Path) -> Path:
    """A migrated SQLite file with the demo agent, its FAQ and the demo number (``seed_demo``)."""
    env = server_env(path, path.parent / "media", DJANGO_SUPERUSER_PASSWORD="not-used-here-123")
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    return path


@dataclass
class LiveServer:
    url: str
    db_path: Path
    log_path: Path
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    def query(self, sql: str, *params: object) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as db:
            return db.execute(sql, params).fetchall()

    def call(self, call_uuid: str) -> dict:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM calls_call WHERE call_uuid = ?", (call_uuid,)).fetchone()
        return dict(row) if row else {}

    def turns(self, call_uuid: str) -> list[tuple]:
        return self.query(
            "SELECT t.role, t.text, t.interrupted, t.heard_text FROM calls_turn t JOIN calls_call c ON t.call_id = c.id"
            " WHERE c.call_uuid = ? ORDER BY t.sequence",
            call_uuid,
        )

    def events(self, call_uuid: str, kind: str) -> list[dict]:
        rows = self.query(
            "SELECT e.data FROM calls_callevent e JOIN calls_call c ON e.call_id = c.id"
            " WHERE c.call_uuid = ? AND e.kind = ? ORDER BY e.id",
            call_uuid,
            kind,
        )
        return [json.loads(data) for (data,) in rows]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_server(workdir: Path, template_db: Path, name: str, **env: str) -> LiveServer:
    """Copy the template database and start daphne on it; returns once /healthz answers."""
    db_path = workdir / f"{name}.sqlite3"
    shutil.copy(template_db, db_path)
    return start_daphne(workdir, name, server_env(db_path, workdir / f"{name}-media", **env), db_path)


def start_daphne(workdir: Path, name: str, full_env: dict[str, str], db_path: Path | None = None) -> LiveServer:
    """Start daphne with ``full_env`` (see ``server_env``); returns once /healthz answers."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        daphne = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "voiceproject.asgi:application"]
        process = subprocess.Popen(
            [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *daphne],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", db_path or Path(), log_path, process, full_env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"daphne did not answer /healthz in 30 s:\n{server.log()[-3000:]}")

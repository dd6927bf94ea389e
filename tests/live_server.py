"""A real daphne server in a subprocess, on a free port, against its own SQLite file (for simulator tests)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests import server_process
from tests.server_process import ROOT, free_port, manage, server_command, wait_until_healthy

SCRIPTED = server_process.SCRIPTED_FACTORY
# A line of daphne's access log (its stdout, so in the server's log): client, time, "METHOD /path", status.
# WebSockets show as WSCONNECTING / WSCONNECT / WSREJECT / WSDISCONNECT with "-" for the status.
ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]*\] "(\S+) (\S+)" (\S+)')


def server_env(db_path: Path, media: Path, **extra: str) -> dict[str, str]:
    """The server's environment (DEBUG on) against the SQLite file ``db_path``."""
    return server_process.server_env(f"sqlite:///{db_path}", media, debug=True, **extra)


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

    def access_log(self) -> list[tuple[str, str, str]]:
        """(method, path, status) of each request and WebSocket event daphne logged, in order (stop the server
        first to be sure the last line is written)."""
        return [m.groups() for line in self.log().splitlines() if (m := ACCESS_LINE.match(line))]

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


def spawn_daphne(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """daphne on ``port`` in its own session (stopped with its process group), output to ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            server_command("daphne", port, die_with_parent=True),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_daphne(workdir: Path, name: str, full_env: dict[str, str], db_path: Path | None = None) -> LiveServer:
    """Start daphne with ``full_env`` (see ``server_env``); returns once /healthz answers."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    process = spawn_daphne(port, full_env, log_path)
    server = LiveServer(f"http://127.0.0.1:{port}", db_path or Path(), log_path, process, full_env)
    if problem := wait_until_healthy(server.url, process, timeout=30):
        server.stop()
        raise RuntimeError(f"daphne {problem}:\n{server.log()[-3000:]}")
    return server

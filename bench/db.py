"""The benchmark's own database: a temporary SQLite file, or a PostgreSQL database created and dropped here."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.server import base_env
from tests.server_process import manage

PG_ADMIN_DB = "postgres"
PG_CONNECTION_LIMIT = 80  # the bench's own role: a connection storm in the server cannot starve other users


def _json(value: object) -> dict:
    if isinstance(value, str):
        return json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class TurnRecord:
    role: str
    text: str
    interrupted: bool
    latency: dict
    resumed: bool = False  # False too where the column does not exist (commits before resume-on-backchannel)


@dataclass
class CallRecord:
    """What the server stored about one call."""

    stream: dict = field(default_factory=dict)  # Call.metrics["stream"]
    stream_ended: bool = False
    turns: list[TurnRecord] = field(default_factory=list)  # in sequence order
    errors: list[dict] = field(default_factory=list)
    barge_ins: list[dict] = field(default_factory=list)
    preemptive: dict | None = None  # Call.metrics["preemptive"] ({"hits": n, "misses": m}), where the engine has it


@dataclass
class BenchDatabase:
    url: str
    media: Path
    created: bool = False
    role: str = ""  # a login role created for the run (owner of the database), dropped with it

    @classmethod
    def create(cls, url: str | None, workdir: Path) -> BenchDatabase:
        """A new empty database: ``url`` (PostgreSQL, name must start with "bench") or a SQLite file in workdir."""
        media = workdir / "media"
        if not url:
            return cls(f"sqlite:///{workdir / 'bench.sqlite3'}", media, created=True)
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise SystemExit(f"--database-url must be postgres://…/bench_…, got {url!r}")
        name = parts.path.lstrip("/")
        if not name.startswith("bench") or not name.replace("_", "").isalnum():
            raise SystemExit(f"refusing to create/drop database {name!r}: its name must start with 'bench'")
        database = cls(url, media)
        database._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        database.created = True
        return database

    @classmethod
    def create_owned(cls, host: str, name: str, workdir: Path) -> BenchDatabase:
        """A PostgreSQL database owned by a new role ``name`` limited to PG_CONNECTION_LIMIT connections."""
        database = cls(f"postgres://{name}@{host}/{name}", workdir / "media", role=name)
        database._pg_admin(
            f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT {PG_CONNECTION_LIMIT}',
            f'CREATE DATABASE "{name}" OWNER "{name}"',
        )
        database.created = True
        return database

    @property
    def name(self) -> str:
        return urlsplit(self.url).path.lstrip("/") if self.is_postgres else ""

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgres")

    def _admin_url(self, database: str) -> str:
        """The superuser's URL (not subject to the bench role's connection limit) for ``database``."""
        parts = urlsplit(self.url)
        netloc = f"postgres@{parts.hostname}:{parts.port or 5432}" if self.role else parts.netloc
        return parts._replace(netloc=netloc, path=f"/{database}").geturl()

    def _pg_admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url(PG_ADMIN_DB), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)

    def prepare(self, seed: str, root: Path) -> list[str]:
        """Migrate and seed the bench agent and number (``seed``: JSON options for bench.seed); returns the seed's
        notes (options the server's Agent model does not have)."""
        env = base_env(self.url, self.media, BENCH_SEED=seed)
        manage(env, "migrate", "--noinput", root=root)
        out = manage(env, "shell", "-c", "from bench.seed import main; main()", root=root)
        return [line for line in out.splitlines() if line.startswith("note:")]

    def drop(self) -> None:
        if not self.created:
            return
        self.created = False
        if self.is_postgres:
            name = urlsplit(self.url).path.lstrip("/")
            self._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if self.role:
                self._pg_admin(f'DROP ROLE IF EXISTS "{self.role}"')

    def query(self, sql: str, *params: object) -> list[tuple]:
        if self.is_postgres:
            import psycopg

            with psycopg.connect(self._admin_url(self.name)) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        path = urlsplit(self.url).path[1:]
        with sqlite3.connect(path, timeout=30) as connection:
            return connection.execute(sql, params).fetchall()

    def wait_streams_ended(self, call_uuids: list[str], timeout: float = 30.0) -> int:
        """Wait until the server closed the stream of every call; returns how many are still open."""
        wanted, deadline = set(call_uuids), time.monotonic() + timeout
        while True:
            rows = self.query("SELECT call_uuid FROM calls_call WHERE stream_ended_at IS NULL")
            open_calls = wanted & {uuid for (uuid,) in rows}
            if not open_calls or time.monotonic() > deadline:
                return len(open_calls)
            time.sleep(0.5)

    def has_column(self, table: str, column: str) -> bool:
        """Whether the migrated schema has ``table.column`` (the server may run an older commit: ``--source``;
        the schema is the one its migrations made, which this process's models cannot tell)."""
        if self.is_postgres:
            sql = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            return (column,) in self.query(sql, table)
        return any(row[1] == column for row in self.query(f"PRAGMA table_info({table})"))

    def records(self, call_uuids: list[str]) -> dict[str, CallRecord]:
        wanted = set(call_uuids)
        found: dict[str, CallRecord] = {}
        for uuid, metrics, ended in self.query(
            "SELECT call_uuid, metrics, stream_ended_at IS NOT NULL FROM calls_call"
        ):
            if uuid in wanted:
                stored = _json(metrics)
                found[uuid] = CallRecord(stored.get("stream") or {}, bool(ended), preemptive=stored.get("preemptive"))
        resumed = "t.resumed" if self.has_column("calls_turn", "resumed") else "FALSE"
        for uuid, role, text, interrupted, latency, was_resumed in self.query(
            f"SELECT c.call_uuid, t.role, t.text, t.interrupted, t.latency, {resumed}"
            " FROM calls_turn t JOIN calls_call c ON c.id = t.call_id ORDER BY t.call_id, t.sequence"
        ):
            if uuid in found:
                found[uuid].turns.append(TurnRecord(role, text, bool(interrupted), _json(latency), bool(was_resumed)))
        for uuid, kind, data in self.query(
            "SELECT c.call_uuid, e.kind, e.data FROM calls_callevent e JOIN calls_call c ON c.id = e.call_id"
            " WHERE e.kind IN ('error', 'barge-in')"
        ):
            if uuid in found:
                (found[uuid].errors if kind == "error" else found[uuid].barge_ins).append(_json(data))
        return found

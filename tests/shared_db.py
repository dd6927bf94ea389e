"""Let a subprocess (Celery worker, daphne) see the test database.

PostgreSQL: the test database itself (tests using this need ``django_db(transaction=True)`` so rows are committed).
SQLite: pytest-django's test database lives in memory, so it is copied to a file with SQLite's backup API, and
``pull`` copies the file back so the test can read what the subprocess wrote through the ORM.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES, need_service


@contextlib.contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database next to DATABASE_URL's, dropped afterwards; yields its URL.

    Skips without PostgreSQL (fails under REQUIRE_SERVICES=1)."""
    base = need_service("DATABASE_URL")
    if not base.startswith("postgres"):
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 needs DATABASE_URL=postgres://...")
        pytest.skip("DATABASE_URL is not PostgreSQL")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SharedDatabase:
    def __init__(self, directory: Path) -> None:
        self.file = directory / "shared.sqlite3"
        self.sqlite = connection.vendor == "sqlite"

    @property
    def url(self) -> str:
        """DATABASE_URL for the subprocess (call ``push`` first on SQLite)."""
        if self.sqlite:
            return f"sqlite:///{self.file}"
        s = connection.settings_dict
        auth = quote(s["USER"] or "") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{quote(s['NAME'])}"

    def push(self) -> None:
        """Copy the test database to the shared file (SQLite only)."""
        if self.sqlite:
            connection.ensure_connection()
            with sqlite3.connect(self.file) as target:
                connection.connection.backup(target)
            target.close()

    def pull(self) -> None:
        """Copy what the subprocess wrote back into the test database (SQLite only)."""
        if self.sqlite:
            source = sqlite3.connect(self.file)
            try:
                source.backup(connection.connection)
            finally:
                source.close()

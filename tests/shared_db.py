"""Let a subprocess (Celery worker, daphne) see the test database.

PostgreSQL: the test database itself (tests using this need ``django_db(transaction=True)`` so rows are committed).
SQLite: pytest-django's test database lives in memory, so it is copied to a file with SQLite's backup API, and
``pull`` copies the file back so the test can read what the subprocess wrote through the ORM.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from django.db import connection


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

"""Small helpers that read settings from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, schemes: tuple[str, ...], default: str = "") -> str:
    """A URL with one of ``schemes``, without a trailing slash; empty when unset."""
    raw = env_str(name, default)
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        raise ImproperlyConfigured(f"{name} must be a {'/'.join(schemes)} URL, got {raw!r}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class DatabaseLimits:
    """PostgreSQL only: the connection pool of one process and the server-side bounds on a connection."""

    pool_min_size: int = 2
    pool_max_size: int = 10
    pool_timeout: int = 10  # seconds a request waits for a pooled connection before OperationalError (503)
    statement_timeout_ms: int = 5000  # 0 = no limit (e.g. for a long migration)
    connect_timeout: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.pool_min_size <= self.pool_max_size or self.pool_max_size < 1:
            raise ImproperlyConfigured(
                f"DB_POOL_MIN_SIZE ({self.pool_min_size}) and DB_POOL_MAX_SIZE ({self.pool_max_size}) "
                "need 0 <= min <= max and max >= 1"
            )
        if self.pool_timeout < 1 or self.connect_timeout < 1:
            raise ImproperlyConfigured(
                f"DB_POOL_TIMEOUT ({self.pool_timeout}) and DB_CONNECT_TIMEOUT ({self.connect_timeout}) "
                "must be at least 1 second"
            )
        if self.statement_timeout_ms < 0:
            raise ImproperlyConfigured(
                f"DB_STATEMENT_TIMEOUT_MS must be 0 (no limit) or more, got {self.statement_timeout_ms}"
            )

    def options(self) -> dict:
        """The backend OPTIONS: Django's psycopg pool (needs CONN_MAX_AGE=0) and libpq connection options."""
        options: dict = {
            "pool": {"min_size": self.pool_min_size, "max_size": self.pool_max_size, "timeout": self.pool_timeout},
            "connect_timeout": self.connect_timeout,
        }
        if self.statement_timeout_ms:
            options["options"] = f"-c statement_timeout={self.statement_timeout_ms}"
        return options


def database_limits_from_env() -> DatabaseLimits:
    defaults = DatabaseLimits()
    return DatabaseLimits(
        pool_min_size=env_int("DB_POOL_MIN_SIZE", defaults.pool_min_size),
        pool_max_size=env_int("DB_POOL_MAX_SIZE", defaults.pool_max_size),
        pool_timeout=env_int("DB_POOL_TIMEOUT", defaults.pool_timeout),
        statement_timeout_ms=env_int("DB_STATEMENT_TIMEOUT_MS", defaults.statement_timeout_ms),
        connect_timeout=env_int("DB_CONNECT_TIMEOUT", defaults.connect_timeout),
    )


def database_from_url(url: str, limits: DatabaseLimits | None = None) -> dict:
    """Django DATABASES entry for ``sqlite:///path`` or ``postgres://user:pass@host:port/name``; PostgreSQL gets a
    connection pool and timeouts from ``limits`` (defaults: ``DatabaseLimits()``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("//"):
            path = path[1:]
        elif path.startswith("/"):
            path = path[1:] or ":memory:"
        # IMMEDIATE transactions + a busy timeout: concurrent webhooks and calls wait for the write lock
        # instead of failing with "database is locked"; WAL lets readers run while one process writes.
        options = {"transaction_mode": "IMMEDIATE", "timeout": 20}
        if path != ":memory:":
            options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL needs a database name: {url!r}")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0,  # required by the pool; connections go back to it after each request
            "CONN_HEALTH_CHECKS": True,  # the pool checks a connection before handing it out
            "OPTIONS": (limits or DatabaseLimits()).options(),
        }
    raise ImproperlyConfigured(f"DATABASE_URL must start with sqlite:// or postgres://, got {url!r}")


DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me-in-production-0123456789abcdef"


def secret_key_problem(raw: str) -> str:
    """What is wrong with DJANGO_SECRET_KEY for production: "missing", "development" (the public key) or ""."""
    if not raw:
        return "missing"
    return "development" if raw == DEVELOPMENT_SECRET_KEY else ""


def secret_key(raw: str, debug: bool) -> str:
    """The key Django signs with. In debug a missing key is the public development key. In production a missing or
    development key becomes a random key of this process only, so that nothing signed with the public key (a
    forged stream token, a session) is ever accepted; voiceproject/checks.py reports it as an error."""
    if debug:
        return raw or DEVELOPMENT_SECRET_KEY
    return secrets.token_urlsafe(50) if secret_key_problem(raw) else raw

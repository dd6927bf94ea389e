"""Settings come from the environment; bad values fail loudly; production passes check --deploy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from voiceproject.env import (
    DEVELOPMENT_SECRET_KEY,
    DatabaseLimits,
    database_from_url,
    database_limits_from_env,
    env_bool,
    env_int,
    env_url,
    secret_key,
)

ROOT = Path(__file__).resolve().parent.parent


def test_database_urls():
    assert database_from_url("sqlite:////tmp/x.db") == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/tmp/x.db",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
    pg = database_from_url("postgres://bob:p%40ss@db.local:6543/voice")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "voice",
        "bob",
        "p@ss",
        "db.local",
        "6543",
    )
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with"):
        database_from_url("mysql://x/y")
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        database_from_url("postgres://host")


def test_bad_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_URL", "ftp://nope")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL must be a boolean"):
        env_bool("X_BOOL")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be an integer"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="X_URL must be a http/https URL"):
        env_url("X_URL", ("http", "https"))


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dropped = ("DJANGO_", "PUBLIC_URL", "REDIS_URL", "PLIVO_", "WEBHOOK_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="k" * 60 + "-Zq9#xY2!",
        PLIVO_AUTH_TOKEN="plivo-token",
        PUBLIC_URL="https://voice.example.com",
        ALLOWED_HOSTS="voice.example.com",
        DATABASE_URL="sqlite:////tmp/deploy-check.db",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_bad_env_value_stops_startup_with_a_clear_message():
    result = run_manage("check", DJANGO_DEBUG="perhaps")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean (1/0, true/false, yes/no), got 'perhaps'" in result.stderr


def test_postgresql_gets_a_pool_and_timeouts():
    pg = database_from_url("postgres://bob@db.local/voice")
    assert (pg["CONN_MAX_AGE"], pg["CONN_HEALTH_CHECKS"], pg["OPTIONS"]) == (
        0,
        True,
        {
            "pool": {"min_size": 2, "max_size": 10, "timeout": 10},
            "connect_timeout": 5,
            "options": "-c statement_timeout=5000",
        },
    )
    assert "pool" not in database_from_url("sqlite:////tmp/x.db")["OPTIONS"]


def test_database_limits_from_env(monkeypatch):
    for name, value in {
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "3",
        "DB_POOL_TIMEOUT": "2",
        "DB_STATEMENT_TIMEOUT_MS": "0",
        "DB_CONNECT_TIMEOUT": "4",
    }.items():
        monkeypatch.setenv(name, value)
    limits = database_limits_from_env()
    assert limits == DatabaseLimits(1, 3, 2, 0, 4)
    assert database_from_url("postgres://db.local/voice", limits)["OPTIONS"] == {
        "pool": {"min_size": 1, "max_size": 3, "timeout": 2},
        "connect_timeout": 4,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"pool_min_size": 5, "pool_max_size": 3},
            "DB_POOL_MIN_SIZE (5) and DB_POOL_MAX_SIZE (3) need 0 <= min <= max",
        ),
        ({"pool_min_size": 0, "pool_max_size": 0}, "DB_POOL_MIN_SIZE (0) and DB_POOL_MAX_SIZE (0) need"),
        ({"pool_timeout": 0}, "DB_POOL_TIMEOUT (0) and DB_CONNECT_TIMEOUT (5) must be at least 1 second"),
        ({"statement_timeout_ms": -1}, "DB_STATEMENT_TIMEOUT_MS must be 0 (no limit) or more, got -1"),
    ],
)
def test_bad_database_limits_fail_loudly(fields, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        DatabaseLimits(**fields)


PRODUCTION = {"DJANGO_DEBUG": "0", "DATABASE_URL": "sqlite:////tmp/settings-check.db"}
GOOD_KEY = "k" * 60 + "-Zq9#xY2!"
NO_KEY = "?: (voiceproject.E001) DJANGO_SECRET_KEY is not set.\n"
DEV_KEY = "?: (voiceproject.E001) DJANGO_SECRET_KEY is the public development key from the source code.\n"
KEY_HINT = (
    "\tHINT: Set DJANGO_SECRET_KEY to a long random value, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (DJANGO_DEBUG=1 is for development only).\n"
)
UNSIGNED = (
    "?: (voiceproject.E002) PLIVO_AUTH_TOKEN is not set, so Plivo webhooks would not be authenticated.\n"
    "\tHINT: Set PLIVO_AUTH_TOKEN to your Plivo auth token, or set PLIVO_ALLOW_UNSIGNED_WEBHOOKS=1 to accept "
    "unsigned webhooks on purpose (e.g. behind a gateway that authenticates them).\n"
)


def test_production_refuses_a_missing_secret_key():
    result = run_manage("check", **PRODUCTION, PLIVO_AUTH_TOKEN="plivo-token")
    assert result.returncode == 1
    assert NO_KEY + KEY_HINT in result.stderr
    assert "E002" not in result.stderr


def test_production_refuses_the_development_key():
    result = run_manage("check", **PRODUCTION, DJANGO_SECRET_KEY=DEVELOPMENT_SECRET_KEY, PLIVO_AUTH_TOKEN="t")
    assert result.returncode == 1
    assert DEV_KEY + KEY_HINT in result.stderr


def test_production_refuses_unsigned_webhooks_unless_opted_out():
    refused = run_manage("check", **PRODUCTION, DJANGO_SECRET_KEY=GOOD_KEY)
    assert refused.returncode == 1
    assert UNSIGNED in refused.stderr
    assert "E001" not in refused.stderr
    allowed = run_manage("check", **PRODUCTION, DJANGO_SECRET_KEY=GOOD_KEY, PLIVO_ALLOW_UNSIGNED_WEBHOOKS="1")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "System check identified no issues (0 silenced).\n"


def test_debug_needs_no_keys():
    """``make run``: DJANGO_DEBUG=1 and nothing else."""
    result = run_manage("check", DJANGO_DEBUG="1", DATABASE_URL="sqlite:////tmp/settings-check.db")
    assert (result.returncode, result.stdout) == (0, "System check identified no issues (0 silenced).\n")


FORGE = """
from django.core import signing
from calls.plivo.tokens import BadStreamToken, read_stream_token
forged = signing.TimestampSigner(key={key!r}, salt="calls.stream-token").sign("CA-forged")
try:
    print("accepted", read_stream_token(forged))
except BadStreamToken as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("configured", [None, DEVELOPMENT_SECRET_KEY])
def test_production_never_accepts_a_token_signed_with_the_development_key(configured):
    """Even when a server starts without running the checks (daphne does not), its key is not the public one."""
    env = {**PRODUCTION, "PLIVO_AUTH_TOKEN": "t"} | ({"DJANGO_SECRET_KEY": configured} if configured else {})
    result = run_manage("shell", "--no-imports", "-c", FORGE.format(key=DEVELOPMENT_SECRET_KEY), **env)
    assert (result.returncode, result.stdout) == (0, "refused: stream token signature is invalid\n"), result.stderr


def test_secret_key_in_debug_and_production():
    assert secret_key("", debug=True) == DEVELOPMENT_SECRET_KEY
    assert secret_key(GOOD_KEY, debug=False) == GOOD_KEY
    assert secret_key("", debug=False) not in ("", DEVELOPMENT_SECRET_KEY)
    assert secret_key(DEVELOPMENT_SECRET_KEY, debug=False) != DEVELOPMENT_SECRET_KEY
    assert secret_key("", debug=False) != secret_key("", debug=False)

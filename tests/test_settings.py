"""Settings come from the environment; bad values fail loudly; production passes check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from voiceproject.env import database_from_url, env_bool, env_int, env_url

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
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PUBLIC_URL", "REDIS_URL"))}
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

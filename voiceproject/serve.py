"""`make run`'s server: daphne with the stream tokens redacted from its access log, saying where to go.

    python -m voiceproject.serve -b 127.0.0.1 -p 8000 voiceproject.asgi:application

Takes daphne's own arguments. Before serving it prints the address to open and the admin user(s) to log in as.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from daphne import cli

from voiceproject.redaction import RedactingAccessLog


def option(argv: Sequence[str], names: tuple[str, ...], default: str) -> str:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default


def admin_users() -> list[str]:
    """Usernames of active superusers (at most three); empty when the database cannot say."""
    try:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
        django.setup()
        from django.contrib.auth import get_user_model

        users = get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk")
        return [user.get_username() for user in users[:3]]
    except Exception:
        return []


def banner(host: str, port: str, admins: Sequence[str]) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    base = f"http://{shown}:{port}"
    lines = [f"Serving on {host}:{port}", f"  Calls:  {base}/calls/", f"  Admin:  {base}/admin/"]
    if admins:
        lines.append(f"  Log in as: {', '.join(admins)} (the password seed_demo printed when it created the user)")
    else:
        lines.append("  No admin user yet: run `manage.py createsuperuser`.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    host = option(args, ("-b", "--bind"), "127.0.0.1")
    port = option(args, ("-p", "--port"), "8000")
    print(banner(host, port, admin_users()), flush=True)
    cli.AccessLogGenerator = RedactingAccessLog  # type: ignore[misc]  # daphne builds its access log from this name
    cli.CommandLineInterface().run(args)


if __name__ == "__main__":
    main()

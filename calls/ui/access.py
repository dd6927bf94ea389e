"""Who may see calls: staff, or users with the ``calls.view_call_records`` permission. Hanging a live call up
takes ``calls.hangup_call`` as well (superusers have every permission)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

VIEW_PERMISSION = "calls.view_call_records"
HANGUP_PERMISSION = "calls.hangup_call"
LOGIN_URL_NAME = "calls-login"


def can_view_calls(user) -> bool:
    """Logged in, active, and staff or granted the view permission."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.has_perm(VIEW_PERMISSION)


def can_hang_up(user) -> bool:
    """May see calls and holds the hang-up permission: viewing alone (even as staff) is not enough."""
    return can_view_calls(user) and user.has_perm(HANGUP_PERMISSION)


def calls_viewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; logged-in users without permission get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse(LOGIN_URL_NAME))
        if not can_view_calls(request.user):
            raise PermissionDenied("You may not view calls.")
        return view(request, *args, **kwargs)

    return wrapper

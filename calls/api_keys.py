"""Keys for the REST API: created and revoked in the admin, stored hashed, shown once, scoped."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        CALL = "call", "Read and place calls"

    name = models.CharField(max_length=100, help_text="Who or what uses the key, e.g. “CRM integration”.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="The key's visible start.")
    key_hash = models.CharField(max_length=128, editable=False)
    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


KEY_START = "vk"
LAST_USED_RESOLUTION = timedelta(seconds=60)  # last_used_at is written at most once a minute per key


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def set_new_secret(key: ApiKey) -> str:
    """Give an unsaved ``key`` a new prefix and hash; returns the full key ``vk_<prefix>_<secret>`` (never stored)."""
    prefix = secrets.token_hex(6)
    while ApiKey.objects.filter(prefix=prefix).exists():  # 48 bits: a clash is all but impossible, still checked
        prefix = secrets.token_hex(6)
    raw = f"{KEY_START}_{prefix}_{secrets.token_urlsafe(32)}"
    key.prefix, key.key_hash = prefix, hash_key(raw)
    return raw


def issue_key(name: str, scope: str, user: AbstractBaseUser | None) -> tuple[ApiKey, str]:
    """A new key and its full text: show the text once, it cannot be recovered (only its sha256 is stored)."""
    key = ApiKey(name=name, scope=scope, created_by=user if user is not None and user.pk else None)
    raw = set_new_secret(key)
    key.save()
    return key, raw


def find_key(raw: str) -> ApiKey | None:
    """The key ``raw`` is the full text of, revoked or not; None for anything else."""
    parts = (raw or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_START or not parts[1] or not parts[2] or len(parts[1]) > 16:
        return None
    key = ApiKey.objects.filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(hash_key(raw.strip()), key.key_hash):
        return None
    return key


def authenticate_key(raw: str) -> ApiKey | None:
    """The active key ``raw`` is the full text of (its use noted in ``last_used_at``), or None."""
    key = find_key(raw)
    if key is None or not key.active:
        return None
    note_use(key)
    return key


def note_use(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def revoke_key(key: ApiKey) -> bool:
    """Revoke ``key`` at once (its next request is refused); False when it was revoked already."""
    now = timezone.now()
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now) == 1
    if revoked:
        key.revoked_at = now
    return revoked

"""Where the outgoing call webhook may go: http(s) URLs whose host resolves only to public addresses.

An operator-typed URL must not turn the server into a proxy into its own network (cloud metadata at
169.254.169.254, an admin port on 127.0.0.1, a database on 10.x). ``WEBHOOK_ALLOW_PRIVATE_TARGETS`` lifts the
address rule for deployments whose receiver really is on a private network (and for tests' local receivers).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

SCHEMES = {"http": 80, "https": 443}
REFUSED_KINDS = "a loopback, link-local, private, multicast, reserved or unspecified address"


class WebhookTargetError(Exception):
    """The URL must not be called; the message says why, for the operator."""


class UnresolvableTarget(WebhookTargetError):
    """The host does not resolve now (may be temporary)."""


def private_targets_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


def is_refused(address: str) -> bool:
    """True for addresses no webhook may reach (IPv4-mapped IPv6 addresses are judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    flags = (ip.is_loopback, ip.is_link_local, ip.is_private, ip.is_multicast, ip.is_reserved, ip.is_unspecified)
    return any(flags) or not ip.is_global


def host_and_port(url: str) -> tuple[str, int]:
    """The URL's host and port; WebhookTargetError unless it is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise WebhookTargetError(f"{url!r} is not an http:// or https:// URL with a host.")
    try:
        return parts.hostname, parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise WebhookTargetError(f"{url!r} has an invalid port.") from None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableTarget(f"{host} does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(url: str) -> list[str]:
    """The addresses to send to (all public); [] when private targets are allowed (then the URL is used as is).
    Raises WebhookTargetError naming the first refused address, or UnresolvableTarget."""
    host, port = host_and_port(url)
    if private_targets_allowed():
        return []
    addresses = resolve(host, port)
    for address in addresses:
        if is_refused(address):
            name = host.strip("[]") if host.strip("[]") == address else f"{host} ({address})"
            raise WebhookTargetError(
                f"{name} is {REFUSED_KINDS}: webhooks go to public addresses only "
                "(WEBHOOK_ALLOW_PRIVATE_TARGETS=1 allows private ones)."
            )
    return addresses


def pinned(url: str, addresses: list[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL, extra headers, httpx extensions) to send to: the host replaced by the first checked address, so that a
    DNS answer that changes after the check cannot point the request elsewhere; Host and the TLS server name stay
    the original host's. The URL as is when there are no addresses (private targets allowed)."""
    if not addresses:
        return url, {}, {}
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
    port = f":{parts.port}" if parts.port else ""
    host_header = (f"[{host}]" if ":" in host else host) + port
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=address + port)), {"Host": host_header}, extensions

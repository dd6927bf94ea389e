"""Sign requests exactly as Plivo does, with the plivo SDK's own signing code."""

from __future__ import annotations

from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3


def plivo_signature(method: str, url: str, params: dict[str, str], auth_token: str, nonce: str = "12345") -> dict:
    """Headers for a Plivo request to ``url`` (absolute) with form ``params``."""
    if method.upper() == "GET":
        base = construct_get_url(url, dict(params)).decode()
    else:
        base = construct_post_url(url, dict(params)).decode()
    signature = get_signature_v3(auth_token.encode(), base, nonce.encode()).decode()
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}

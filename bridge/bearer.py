"""The token of an ``Authorization: Bearer <token>`` header. The auth scheme is
case-insensitive (RFC 9110 §11.1): ``bearer`` and ``BEARER`` name the same scheme."""

from __future__ import annotations


def bearer_token(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

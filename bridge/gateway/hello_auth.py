"""Server-side checks of a client's hello (used by the sandbox gateway and by tests).

Kept beside the client so both ends read one definition of what a valid hello is.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorCode, ErrorInfo
from .ids import InternalId, UserVisibleId
from .noise_channel import SUPPORTED_VERSIONS, HelloReceived
from .tokens import TokenError, verify_token


@dataclass(frozen=True, slots=True)
class EnlistedClient:
    """What the gatekeeper recorded at enlistment and needs to admit a connection."""

    login: InternalId
    authkey: bytes
    user_visible_id: UserVisibleId
    partner_base: str


@dataclass(frozen=True)
class HelloRefused(Exception):
    """The hello fails a check; send ``ServerChannel.refuse(error, extra_attrs)`` and close."""

    error: ErrorInfo
    extra_attrs: dict[str, str] = field(default_factory=dict)


async def authenticate_hello(
    event: HelloReceived,
    *,
    lookup_enlisted: Callable[[InternalId], Awaitable[EnlistedClient | None]],
    fetch_partner_jwks: Callable[[str], Awaitable[dict[str, Any]]],
    gateway_audience: str,
    supported_versions: frozenset[int] = SUPPORTED_VERSIONS,
    now: float | None = None,
) -> EnlistedClient:
    """Run the checks of docs/gateway-protocol.md "Admission" in order; raise HelloRefused."""
    hello = event.hello
    announced = event.announced_version
    if hello.version not in supported_versions or announced not in supported_versions:
        versions = ",".join(str(v) for v in sorted(supported_versions))
        raise HelloRefused(
            ErrorInfo(ErrorCode.VERSION_UNSUPPORTED, f"supported versions: {versions}"),
            {"versions": versions},
        )
    if hello.version != event.announced_version:
        raise HelloRefused(ErrorInfo(ErrorCode.BAD_REQUEST, "hello version differs from intro"))
    enlisted = await lookup_enlisted(hello.login)
    if enlisted is None:
        raise HelloRefused(ErrorInfo(ErrorCode.NOT_AUTHORIZED, "not enlisted"))
    if not hmac.compare_digest(enlisted.authkey, event.client_static):
        raise HelloRefused(ErrorInfo(ErrorCode.NOT_AUTHORIZED, "noise key differs from authkey"))
    try:
        jwks = await fetch_partner_jwks(enlisted.partner_base)
        claims = verify_token(hello.token, jwks, issuer=enlisted.partner_base,
                              audience=gateway_audience, now=now)
    except TokenError as exc:
        raise HelloRefused(ErrorInfo(ErrorCode.NOT_AUTHORIZED, f"bad token: {exc}")) from exc
    if not hmac.compare_digest(str(claims["sub"]).encode(), enlisted.user_visible_id.encode()):
        raise HelloRefused(ErrorInfo(ErrorCode.NOT_AUTHORIZED, "token subject differs"))
    return enlisted

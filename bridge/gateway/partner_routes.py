"""The partner server's HTTP endpoints (docs/gateway-protocol.md §2, §10, §11).

``register_routes(app, ...)`` adds them to an existing aiohttp application (the bridge mounts
them on its appservice listener), under an optional path prefix that must match the
``partner_base`` the gatekeeper was configured with.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from .ids import StorageReference, UserVisibleId
from .jwks_client import TokenVerifier
from .tokens import TokenError

log = logging.getLogger("bridge.gateway.partner")

JWKS_PATH = "/.well-known/oauth/openid/jwks"
PUSH_PATH = "/push"
MEDIA_PATH = "/media/{storage_reference}"


class HostedMedia(Protocol):
    """Where the partner's encrypted uploads live (implemented by the media layer)."""

    async def read_encrypted(self, reference: StorageReference) -> bytes | None: ...


@dataclass(frozen=True)
class PartnerEndpoints:
    #: Our public base URL as the gatekeeper knows it: the ``aud`` of its tokens.
    partner_base: str
    #: The gatekeeper's identifier: the ``iss`` of its tokens.
    gateway_id: str
    #: Verifies gatekeeper tokens (normally a JwksCache on the gateway's JWKS URL).
    gatekeeper_tokens: TokenVerifier
    #: The JWKS document with our identity-token signing keys.
    own_jwks: Callable[[], dict[str, Any]]
    #: Wakes the partner client of that user; unknown users are the callee's business.
    on_push: Callable[[UserVisibleId], Awaitable[None]]
    media: HostedMedia | None = None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=401,
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def register_routes(app: web.Application, endpoints: PartnerEndpoints, prefix: str = "") -> None:
    prefix = prefix.rstrip("/")

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(endpoints.own_jwks(),
                                 headers={"Cache-Control": "public, max-age=300"})

    async def verified_claims(request: web.Request, purpose: str) -> dict[str, Any] | None:
        token = _bearer(request)
        if token is None:
            return None
        try:
            return await endpoints.gatekeeper_tokens.verify(
                token, issuer=endpoints.gateway_id, audience=endpoints.partner_base,
                purpose=purpose)
        except TokenError as exc:
            log.info("refused %s token: %s", purpose, exc)
            return None

    async def push(request: web.Request) -> web.Response:
        claims = await verified_claims(request, "push")
        if claims is None:
            return _unauthorized("bad or missing gatekeeper token")
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        to = body.get("to") if isinstance(body, dict) else None
        if not isinstance(to, str) or not to:
            return web.json_response({"error": "missing to"}, status=400)
        if claims.get("sub") != to:
            return _unauthorized("token subject differs from to")
        await endpoints.on_push(UserVisibleId(to))
        return web.Response(status=204)

    async def media(request: web.Request) -> web.Response:
        reference = StorageReference(request.match_info["storage_reference"])
        claims = await verified_claims(request, "media")
        if claims is None or claims.get("sub") != reference:
            return _unauthorized("bad or missing gatekeeper token")
        blob = await endpoints.media.read_encrypted(reference) if endpoints.media else None
        if blob is None:
            return web.json_response({"error": "unknown reference"}, status=404)
        return web.Response(body=blob, content_type="application/octet-stream")

    app.router.add_get(prefix + JWKS_PATH, jwks)
    app.router.add_post(prefix + PUSH_PATH, push)
    app.router.add_get(prefix + MEDIA_PATH, media)

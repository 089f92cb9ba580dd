"""Public HTTP endpoints: enlistment, the gatekeeper's JWKS, media downloads and the media
proxy."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .clock import millis
from .enlistment import EnlistmentRefused
from .storage.media import MediaBlob
from .tokens import media_token

if TYPE_CHECKING:
    from .server import SandboxGateway

log = logging.getLogger("bridge.sandbox.http")

# Storage references are opaque to the gatekeeper, but they end up in a URL path it builds.
_SAFE_REFERENCE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def add_public_routes(app: web.Application, gateway: SandboxGateway) -> None:
    routes = PublicRoutes(gateway)
    app.router.add_post("/3p/interop_reg", routes.enlist)
    app.router.add_get("/.well-known/jwks.json", routes.jwks)
    app.router.add_get("/v/t{file_reference}", routes.download)
    app.router.add_get("/interop/whatsapp/download/{integrator}/{storage_reference}/",
                       routes.proxy_partner_media)


class PublicRoutes:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gateway = gateway

    async def enlist(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return web.json_response({"status": "fail", "reason": "bad_request"}, status=400)
        if self.gateway.faults.unavailable:
            retry_after = str(int(self.gateway.faults.retry_after))
            return web.json_response({"status": "fail", "reason": "unavailable"}, status=503,
                                     headers={"Retry-After": retry_after})
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        try:
            enlisted = await self.gateway.enlister.enlist(form)
        except EnlistmentRefused as e:
            log.info("Enlistment refused: %s", e.reason)
            return web.json_response({"status": "fail", "reason": e.reason},
                                     status=e.http_status)
        return web.json_response({"status": "ok", "login": enlisted.internal_id})

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self.gateway.jwks(),
                                 headers={"Cache-Control": "max-age=300"})

    async def download(self, request: web.Request) -> web.Response:
        blob = await self.gateway.media.get(request.match_info["file_reference"])
        if blob is None:
            raise web.HTTPNotFound()
        return web.Response(body=blob.body, content_type=blob.content_type)

    async def proxy_partner_media(self, request: web.Request) -> web.StreamResponse:
        """The media proxy: fetch ``{partner_base}/media/{storage_reference}`` and relay it."""
        config = self.gateway.config
        if request.match_info["integrator"] != config.integrator_id:
            raise web.HTTPNotFound(text="unknown integrator")
        reference = request.match_info["storage_reference"]
        if not reference or not set(reference) <= _SAFE_REFERENCE or reference in (".", ".."):
            raise web.HTTPBadRequest(text="bad storage reference")
        if not config.partner_base_url:
            raise web.HTTPServiceUnavailable(text="no partner media host configured")
        url = f"{config.partner_base_url}/media/{reference}"
        token = media_token(self.gateway.signing_key, issuer=config.effective_gateway_id,
                            audience=config.partner_base_url, storage_reference=reference,
                            clock=self.gateway.clock)
        try:
            async with self.gateway.http.get(url, headers={"Authorization": f"Bearer {token}"},
                                             timeout=aiohttp.ClientTimeout(total=60)) as up:
                if up.status == 404:
                    raise web.HTTPNotFound()
                if up.status >= 300:
                    raise web.HTTPBadGateway(text=f"partner media host answered {up.status}")
                if (up.content_length or 0) > config.max_media_bytes:
                    raise web.HTTPRequestEntityTooLarge(config.max_media_bytes,
                                                        up.content_length or 0)
                response = web.StreamResponse(headers={
                    "Content-Type": up.headers.get("Content-Type", "application/octet-stream")})
                await response.prepare(request)
                relayed = 0
                async for chunk in up.content.iter_chunked(64 * 1024):
                    relayed += len(chunk)
                    if relayed > config.max_media_bytes:
                        # Headers are already out; cutting the body short is the only signal left.
                        break
                    await response.write(chunk)
                await response.write_eof()
                return response
        except aiohttp.ClientError as e:
            raise web.HTTPBadGateway(
                text=f"partner media host unreachable: {type(e).__name__}") from e


async def store_upload(gateway: SandboxGateway, body: bytes, content_type: str,
                       uploader: str) -> str:
    """Keep an (already encrypted) upload and return its file reference."""
    reference = secrets.token_urlsafe(24)
    await gateway.media.put(MediaBlob(reference, content_type or "application/octet-stream",
                                      body, uploader, millis(gateway.clock)))
    return reference

"""The admin HTTP API under ``/_sandbox/admin/v1/`` (documented in docs/sandbox.md).

Every request must carry ``Authorization: Bearer <admin secret>``; the secret is compared in
constant time and a sandbox started without a secret refuses every admin request.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .clock import AdjustableClock, millis
from .http_public import store_upload

if TYPE_CHECKING:
    from .server import SandboxGateway

log = logging.getLogger("bridge.sandbox.admin")

PREFIX = "/_sandbox/admin/v1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def make_auth_middleware(secret: str):
    expected = secret.encode()

    @web.middleware
    async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest on bytes: constant time in the secret's content.
        if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected):
            return json_error(401, "unauthorized",
                              "missing or wrong admin secret (Authorization: Bearer <secret>)")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            # Callers (tests, the demo, scripts) read every answer as JSON, failures included.
            log.exception("Admin request %s %s failed", request.method, request.path)
            return json_error(500, "internal_error",
                              "the sandbox could not handle this request; its log has the details")

    return admin_auth


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("body must be JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def refusal(error_class: type[web.HTTPException], error: str, message: str) -> web.HTTPException:
    """An HTTP error with the admin API's JSON body, to raise from helpers."""
    return error_class(text=json.dumps({"error": error, "message": message}),
                       content_type="application/json")


def bad_request(message: str) -> web.HTTPException:
    return refusal(web.HTTPBadRequest, "bad_request", message)


def add_admin_routes(app: web.Application, gateway: SandboxGateway) -> None:
    api = AdminApi(gateway)
    r = app.router
    r.add_get(f"{PREFIX}/partners", api.list_partners)
    r.add_get(f"{PREFIX}/partners/{{internal_id}}", api.get_partner)
    r.add_get(f"{PREFIX}/mailbox/{{address}}", api.inspect_mailbox)
    r.add_get(f"{PREFIX}/gatekeeper-users", api.list_gatekeeper_users)
    r.add_post(f"{PREFIX}/gatekeeper-users", api.create_gatekeeper_user)
    r.add_get(f"{PREFIX}/gatekeeper-users/{{username}}", api.get_gatekeeper_user)
    r.add_post(f"{PREFIX}/gatekeeper-users/{{username}}/opt-in", api.opt_in)
    r.add_post(f"{PREFIX}/gatekeeper-users/{{username}}/opt-out", api.opt_out)
    r.add_get(f"{PREFIX}/blocks/{{owner}}", api.get_blocklist)
    r.add_post(f"{PREFIX}/blocks/{{owner}}", api.block)
    r.add_delete(f"{PREFIX}/blocks/{{owner}}/{{blocked}}", api.unblock)
    r.add_post(f"{PREFIX}/media", api.upload_media)
    r.add_get(f"{PREFIX}/clock", api.get_clock)
    r.add_post(f"{PREFIX}/clock/advance", api.advance_clock)
    r.add_post(f"{PREFIX}/housekeeping", api.run_housekeeping)
    r.add_get(f"{PREFIX}/stats", api.stats)
    gateway.extend_admin_routes(app, PREFIX)


def _gatekeeper_json(user) -> dict[str, Any]:
    return {"username": user.username, "address": user.address, "opted_in": user.opted_in,
            "created_at": user.created_at}


class AdminApi:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gateway = gateway

    async def _partner_json(self, user) -> dict[str, Any]:
        gw = self.gateway
        return {
            "internal_id": user.internal_id,
            "visible_id": user.visible_id,
            "enlisted_at": user.enlisted_at,
            "last_seen_at": user.last_seen_at,
            "connected": gw.is_connected(user.internal_id),
            "one_time_prekeys": await gw.partners.count_one_time_prekeys(user.internal_id),
            "mailbox": await gw.mailbox.count(user.internal_id, gw.retention_cutoff_ms()),
        }

    async def list_partners(self, request: web.Request) -> web.Response:
        users = await self.gateway.partners.list_all()
        return web.json_response({"partners": [await self._partner_json(u) for u in users]})

    async def get_partner(self, request: web.Request) -> web.Response:
        internal_id = request.match_info["internal_id"]
        user = await self.gateway.partners.get(internal_id)
        if user is None:
            reason = await self.gateway.partners.retirement_reason(internal_id)
            return json_error(404, "not_found",
                              f"not enlisted ({reason})" if reason else "not enlisted")
        return web.json_response(await self._partner_json(user))

    async def inspect_mailbox(self, request: web.Request) -> web.Response:
        """What waits for an address: stanza headers only (content bytes are shown by size)."""
        gw = self.gateway
        entries = await gw.mailbox.pending(request.match_info["address"],
                                           not_before_ms=gw.retention_cutoff_ms())
        return web.json_response({"entries": [
            {"seq": e.seq, "class": e.ack_class, "id": e.stanza_id, "peer": e.peer,
             "stored_at": e.stored_at, "stanza": gw.describe_stored_stanza(e.stanza)}
            for e in entries
        ]})

    async def list_gatekeeper_users(self, request: web.Request) -> web.Response:
        users = await self.gateway.directory.list_gatekeeper_users()
        return web.json_response({"users": [_gatekeeper_json(u) for u in users]})

    async def create_gatekeeper_user(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        username = body.get("username")
        if not isinstance(username, str) or not username or "@" in username or "/" in username:
            return json_error(400, "bad_request",
                              "username must be a non-empty string without @ or /")
        opted_in = body.get("opted_in", True)
        if not isinstance(opted_in, bool):
            return json_error(400, "bad_request", "opted_in must be a boolean")
        address = await self.gateway.new_gatekeeper_address()
        created = await self.gateway.directory.create_gatekeeper_user(
            username, address, opted_in, millis(self.gateway.clock))
        if not created:
            return json_error(409, "exists", "a gatekeeper user with that username exists")
        user = await self.gateway.directory.get_gatekeeper_user(username)
        return web.json_response(_gatekeeper_json(user), status=201)

    async def get_gatekeeper_user(self, request: web.Request) -> web.Response:
        user = await self.gateway.directory.get_gatekeeper_user(request.match_info["username"])
        if user is None:
            return json_error(404, "not_found", "no such gatekeeper user")
        return web.json_response(_gatekeeper_json(user))

    async def _set_opt_in(self, request: web.Request, opted_in: bool) -> web.Response:
        if not await self.gateway.directory.set_opted_in(request.match_info["username"], opted_in):
            return json_error(404, "not_found", "no such gatekeeper user")
        return web.json_response({"username": request.match_info["username"],
                                  "opted_in": opted_in})

    async def opt_in(self, request: web.Request) -> web.Response:
        return await self._set_opt_in(request, True)

    async def opt_out(self, request: web.Request) -> web.Response:
        return await self._set_opt_in(request, False)

    async def get_blocklist(self, request: web.Request) -> web.Response:
        owner = request.match_info["owner"]
        return web.json_response({"owner": owner,
                                  "blocked": await self.gateway.directory.blocklist(owner)})

    async def block(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        blocked = body.get("address")
        if not isinstance(blocked, str) or not blocked:
            return json_error(400, "bad_request", "address must be a non-empty string")
        await self.gateway.set_block(request.match_info["owner"], blocked, True)
        return await self.get_blocklist(request)

    async def unblock(self, request: web.Request) -> web.Response:
        await self.gateway.set_block(request.match_info["owner"], request.match_info["blocked"],
                                     False)
        return await self.get_blocklist(request)

    async def upload_media(self, request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > self.gateway.config.max_media_bytes:
            return json_error(413, "too_large", "upload exceeds the media size limit")
        reference = await store_upload(self.gateway, body, request.content_type,
                                       request.query.get("uploader", "admin"))
        return web.json_response({"file_reference": reference, "path": f"/v/t{reference}",
                                  "url": f"{self.gateway.config.base_url}/v/t{reference}"},
                                 status=201)

    async def get_clock(self, request: web.Request) -> web.Response:
        clock = self.gateway.clock
        return web.json_response({
            "now": clock.now(),
            "adjustable": self.gateway.config.test_clock,
            "offset_seconds": getattr(clock, "offset_seconds", 0.0),
        })

    async def advance_clock(self, request: web.Request) -> web.Response:
        clock = self.gateway.clock
        if not self.gateway.config.test_clock or not isinstance(clock, AdjustableClock):
            return json_error(403, "forbidden", "the sandbox was not started with --test-clock")
        body = await _json_body(request)
        seconds = body.get("seconds", 0) + 86400 * body.get("days", 0)
        if not isinstance(seconds, (int, float)) or seconds < 0:
            return json_error(400, "bad_request", "seconds/days must be non-negative numbers")
        clock.advance(seconds)
        await self.gateway.save_clock()
        report = await self.gateway.housekeeping()
        return web.json_response({"now": clock.now(), "offset_seconds": clock.offset_seconds,
                                  "housekeeping": report})

    async def run_housekeeping(self, request: web.Request) -> web.Response:
        return web.json_response(await self.gateway.housekeeping())

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.gateway.stats())

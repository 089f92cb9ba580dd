"""The provisioning HTTP API: what the bot's commands do, for apps and dashboards.

Versioned under ``/_interop/provision/v1``, on its own listener (loopback by default), and
authenticated with a shared secret (``Authorization: Bearer``, compared in constant time) plus the
Matrix user ID the call acts for (``user_id``), which must have the ``user`` permission level.
Errors are JSON: ``{"errcode": "...", "error": "..."}``. The OpenAPI document is
``docs/provisioning-openapi.yaml``.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from mautrix.types import UserID

from .bearer import bearer_token
from .chats.blocking import set_blocked
from .chats.requests import MessageRequests
from .gateway.connection import ConnectionUnavailable
from .gateway.errors import ErrorCode, GatewayError
from .matrix.permissions import Level, permission_level
from .matrix.portals import Portals
from .matrix.spaces import InboxSpaces
from .partner.service import OptInError, PartnerService

log = logging.getLogger("bridge.provisioning")

PREFIX = "/_interop/provision/v1"


class ApiError(Exception):
    def __init__(self, status: int, errcode: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


class ProvisioningApi:
    def __init__(self, *, partners: PartnerService, portals: Portals,
                 requests: MessageRequests | None, spaces: InboxSpaces,
                 permissions: Mapping[str, str], secret: str) -> None:
        self.partners = partners
        self.portals = portals
        self.requests = requests
        self.spaces = spaces
        self.permissions = permissions
        self.secret = secret
        self._runner: web.AppRunner | None = None

    # --- plumbing ------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        token = bearer_token(request.headers.get("Authorization", "")) or ""
        if not token or not self.secret or not hmac.compare_digest(token.encode(),
                                                                   self.secret.encode()):
            return _error(401, "M_UNKNOWN_TOKEN", "Missing or wrong provisioning secret")
        try:
            return await handler(request)
        except ApiError as e:
            return _error(e.status, e.errcode, str(e))
        except (ConnectionUnavailable, GatewayError) as e:
            return _error(503, "IO_GATEWAY_UNAVAILABLE", f"The gateway could not answer: {e}")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        routes = [
            ("GET", "/status", self.status),
            ("POST", "/opt-in", self.opt_in),
            ("POST", "/opt-out", self.opt_out),
            ("POST", "/start-chat", self.start_chat),
            ("PUT", "/inbox", self.set_inbox),
            ("GET", "/blocklist", self.blocklist),
            ("POST", "/blocklist", self.block),
            ("DELETE", "/blocklist/{username}", self.unblock),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, PREFIX + path, handler)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("Provisioning API on http://%s:%d%s", host, port, PREFIX)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "M_NOT_JSON", "The body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "M_BAD_JSON", "The body must be a JSON object")
        return body

    def _user(self, value: Any) -> UserID:
        if not isinstance(value, str) or not value.startswith("@") or ":" not in value:
            raise ApiError(400, "M_INVALID_PARAM", "user_id must be a Matrix user ID")
        if permission_level(self.permissions, UserID(value)) < Level.USER:
            raise ApiError(403, "M_FORBIDDEN", f"{value} may not use this bridge")
        return UserID(value)

    def _client(self, user: UserID):
        client = self.partners.client(user)
        if client is None:
            raise ApiError(409, "IO_NOT_OPTED_IN", f"{user} has not opted in")
        return client

    async def _lookup(self, user: UserID, username: Any):
        if not isinstance(username, str) or not username:
            raise ApiError(400, "M_INVALID_PARAM", "username is required")
        try:
            return await self._client(user).requests.lookup_username(username.lstrip("@"))
        except GatewayError as e:
            if e.code == ErrorCode.UNKNOWN_USER:
                raise ApiError(404, "IO_UNKNOWN_USER", f"Nobody is called {username}") from None
            raise

    # --- endpoints -----------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user_id"))
        account = await self.partners.accounts.get(user)
        client = self.partners.client(user)
        return web.json_response({
            "user_id": user,
            "state": account.state.value if account else "not_opted_in",
            "user_visible_id": account.user_visible_id if account else None,
            "internal_id": account.internal_id if account else None,
            "connection": client.connection.state.value if client else None,
            "last_error": account.last_error if account else None,
            "inbox": await self.spaces.inbox_of(user),
        })

    async def opt_in(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._user(body.get("user_id"))
        if body.get("disclosure_acknowledged") is not True:
            raise ApiError(400, "IO_DISCLOSURE_REQUIRED",
                           "Show the person the disclosure (see the bot's opt-in) and send "
                           "disclosure_acknowledged: true")
        await self.partners.accounts.record_disclosure(user)
        try:
            account = await self.partners.opt_in(user, body.get("username"))
        except OptInError as e:
            raise ApiError(409, "IO_OPT_IN_FAILED", str(e)) from None
        return web.json_response({"state": account.state.value,
                                  "user_visible_id": account.user_visible_id,
                                  "internal_id": account.internal_id})

    async def opt_out(self, request: web.Request) -> web.Response:
        user = self._user((await self._body(request)).get("user_id"))
        try:
            await self.partners.opt_out(user)
        except OptInError as e:
            raise ApiError(409, "IO_NOT_OPTED_IN", str(e)) from None
        return web.json_response({"state": "opted_out"})

    async def start_chat(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._user(body.get("user_id"))
        found = await self._lookup(user, body.get("username"))
        if not found.opted_in:
            raise ApiError(409, "IO_CONTACT_NOT_OPTED_IN",
                           f"{found.username} has not turned on third-party chats")
        portal = await self.portals.get_or_create(user, found.address, found.username)
        return web.json_response({"room_id": portal.room_id, "contact": found.username})

    async def set_inbox(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._user(body.get("user_id"))
        if body.get("inbox") not in ("separate", "main"):
            raise ApiError(400, "M_INVALID_PARAM", "inbox must be separate or main")
        moved = await self.spaces.choose(
            user, body["inbox"], [p.room_id for p in await self.portals.for_user(user)])
        return web.json_response({"inbox": body["inbox"], "moved": moved})

    async def blocklist(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user_id"))
        addresses = await self._client(user).requests.blocklist()
        return web.json_response({"blocked": addresses})

    async def block(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._user(body.get("user_id"))
        found = await self._lookup(user, body.get("username"))
        await self._set_blocked(user, found, True)
        return web.json_response({"blocked": found.address})

    async def unblock(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user_id"))
        found = await self._lookup(user, request.match_info["username"])
        await self._set_blocked(user, found, False)
        return web.json_response({"unblocked": found.address})

    async def _set_blocked(self, user: UserID, found, blocked: bool) -> None:
        await set_blocked(client=self._client(user), portals=self.portals,
                          requests=self.requests, user=user, address=found.address,
                          username=found.username, blocked=blocked)

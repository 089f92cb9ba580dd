"""The appservice listener: mautrix's AppService with spec-conformant token checks and durable
transactions (stored in the :class:`MatrixInbox` before the homeserver is answered)."""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web
from mautrix.appservice import AppService
from mautrix.types import DeviceLists, DeviceOTKCount

from ..bearer import bearer_token
from .inbox import MatrixInbox

# Paths the homeserver calls; everything else on the listener (health probes, the partner server's
# endpoints) has its own authentication or none.
_HOMESERVER_PATHS = ("/_matrix/app/", "/transactions/", "/users/", "/rooms/")


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


def _token_of(request: web.Request) -> str | None:
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is not None:
        return token
    return request.rel_url.query.get("access_token")


class BridgeAppService(AppService):
    def __init__(self, *, inbox: MatrixInbox, **kwargs: Any) -> None:
        # register_routes() runs inside AppService.__init__, so the inbox must be set first.
        self.inbox = inbox
        super().__init__(**kwargs)

    async def stop_listening(self) -> None:
        """Close the listener after answering the requests in flight; outgoing calls still work."""
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def _check_token(self, request: web.Request) -> bool:
        token = _token_of(request)
        return token is not None and hmac.compare_digest(token.encode(), self.hs_token.encode())

    @web.middleware
    async def _authenticate_homeserver(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith(_HOMESERVER_PATHS):
            if _token_of(request) is None:
                return _error(401, "M_UNAUTHORIZED", "Missing hs_token")
            if not self._check_token(request):
                return _error(403, "M_FORBIDDEN", "Invalid hs_token")
        return await handler(request)

    def register_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._authenticate_homeserver)
        for path in ("/_matrix/app/v1/transactions/{transaction_id}",
                     "/transactions/{transaction_id}"):
            app.router.add_route("PUT", path, self._accept_transaction)
        for prefix in ("/_matrix/app/v1", ""):
            app.router.add_route("GET", f"{prefix}/rooms/{{alias}}", self._http_query_alias)
            app.router.add_route("GET", f"{prefix}/users/{{user_id}}", self._http_query_user)
        app.router.add_route("POST", "/_matrix/app/v1/ping", self._http_ping)

    async def _accept_transaction(self, request: web.Request) -> web.Response:
        txn_id = request.match_info["transaction_id"]
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "M_NOT_JSON", "Body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            return _error(400, "M_BAD_JSON", "Missing events list in body")

        def pick(field: str, unstable: str) -> Any:
            return body.get(field, body.get(f"{unstable}.{field}"))

        ephemeral = pick("ephemeral", "de.sorunome.msc2409") or []
        to_device = pick("to_device", "de.sorunome.msc2409") or []
        try:
            stored = await self.inbox.accept(
                txn_id, events=body["events"], ephemeral=ephemeral, to_device=to_device
            )
        except Exception:
            # Not acknowledged: the homeserver retries the same transaction later.
            self.log.exception("Could not store transaction %s", txn_id)
            return _error(500, "M_UNKNOWN", "Could not store the transaction; retry later")
        if not stored:
            self.log.debug("Transaction %s was already stored", txn_id)
        device_lists = pick("device_lists", "org.matrix.msc3202")
        otk_counts = pick("device_one_time_keys_count", "org.matrix.msc3202") or {}
        if device_lists or otk_counts:
            await self._handle_crypto_state(device_lists, otk_counts)
        return web.json_response({})

    async def _handle_crypto_state(self, device_lists: Any, otk_counts: dict) -> None:
        # Device lists and key counts describe current state; re-reading them is harmless, so they
        # are handled inline rather than queued.
        lists = DeviceLists.deserialize(device_lists) if device_lists else None
        counts = {
            user: {device: DeviceOTKCount.deserialize(c) for device, c in devices.items()}
            for user, devices in otk_counts.items()
        }
        try:
            await self.inbox.crypto_state(lists, counts)
        except Exception:
            self.log.exception("Crypto state handler failed")

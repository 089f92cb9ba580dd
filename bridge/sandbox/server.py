"""The sandbox gateway process: one aiohttp server carrying every gatekeeper endpoint.

:class:`SandboxGateway` is the composition root. It owns the state database, the clock, the
signing keys, the partner-facing HTTP client, and the chat server; the HTTP route modules and the
chat connections reach everything through it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiohttp
from aiohttp import web

from bridge.gateway.codec import Node, default_codec
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import SERVER_ADDRESS
from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.noise_channel import (
    SUPPORTED_VERSIONS,
    generate_static_private,
    static_public_from_private,
)
from bridge.gateway.tokens import SigningKey, jwks_document

from . import stored_stanza
from .admin_api import add_admin_routes, make_auth_middleware
from .admin_chat import add_admin_chat_routes
from .admin_reports import add_admin_report_routes
from .admin_simulated import add_admin_simulated_routes
from .chat.connection import chat_endpoint
from .chat.router import Router
from .clock import AdjustableClock, Clock, SystemClock, millis
from .config import SandboxConfig
from .enlister import Enlisted, Enlister
from .enlistment import b64url_decode, b64url_encode
from .faults import Faults
from .http_public import add_public_routes
from .push import PushNotifier
from .simulated import SimulatedUsers
from .storage import Database, create_sandbox_database
from .storage.directory import DirectoryStore
from .storage.mailbox import ContactStore, MailboxStore, SendLedger
from .storage.media import MediaStore
from .storage.partners import PartnerStore
from .storage.reports import ReportStore
from .storage.state import StateStore

log = logging.getLogger("bridge.sandbox")

SIGNING_KEY_STATE = "gatekeeper_signing_key"
CLOCK_OFFSET_STATE = "test_clock_offset"
NOISE_KEY_STATE = "noise_static_private"
GATEKEEPER_NUMBER_STATE = "next_gatekeeper_number"
GATEKEEPER_DOMAIN = "gk"


class SandboxGateway:
    def __init__(self, config: SandboxConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        if clock is None:
            clock = AdjustableClock() if config.test_clock else SystemClock()
        self.clock = clock
        self.db: Database | None = None
        self.runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task | None = None
        self._connection_tasks: set[asyncio.Task] = set()
        self.codec = default_codec()
        self.faults = Faults()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        # Bind first, so that a free port chosen by the OS (port 0) is known to everything that
        # derives URLs from it (gateway id, media URLs) before any request can arrive.
        listen_socket = socket.create_server((config.host, config.port))
        config.port = listen_socket.getsockname()[1]
        self.db = create_sandbox_database(config.database_url, log=log.getChild("db"))
        await self.db.start()
        self.state = StateStore(self.db)
        self.partners = PartnerStore(self.db)
        self.mailbox = MailboxStore(self.db)
        self.sends = SendLedger(self.db)
        self.directory = DirectoryStore(self.db)
        self.media = MediaStore(self.db)
        self.contacts = ContactStore(self.db)
        self.router = Router(self)
        self.simulated = SimulatedUsers(self)
        await self.simulated.start()
        self.reports = ReportStore(self.db, self.simulated.vault)
        await self._load_clock()
        self.signing_key = await self._load_signing_key()
        self.noise_private = await self._load_noise_key()
        self.http = aiohttp.ClientSession()
        self.partner_keys = JwksCache(self.http, config.partner_jwks_url)
        self.enlister = Enlister(
            integrator_id=config.integrator_id, partner_issuer=config.partner_base_url,
            audience=config.effective_gateway_id, partners=self.partners, state=self.state,
            keys=self.partner_keys, clock=self.clock,
        )
        self.enlister.on_reenlisted = self._on_reenlisted
        self.push = PushNotifier(config.partner_push_url or None, self.http, self.signing_key,
                                 issuer=config.effective_gateway_id,
                                 audience=config.partner_base_url,
                                 clock=self.clock)
        app = web.Application(middlewares=[make_auth_middleware(config.admin_secret)],
                              client_max_size=config.max_media_bytes + 1024)
        add_public_routes(app, self)
        add_admin_routes(app, self)
        self._add_chat_routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.SockSite(self.runner, listen_socket).start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sandbox-housekeeping")
        log.info("Sandbox gateway listening on %s (integrator %s)", config.base_url,
                 config.integrator_id)

    async def stop(self) -> None:
        """Stop everything; safe to call twice (tests stop a sandbox to restart it)."""
        if self._sweeper:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self.db is None:
            return
        await self._stop_chat()
        if self.runner:
            await self.runner.cleanup()
            self.runner = None
        await self.push.close()
        await self.http.close()
        db, self.db = self.db, None
        await db.stop()

    async def __aenter__(self) -> SandboxGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _load_signing_key(self) -> SigningKey:
        stored = await self.state.get(SIGNING_KEY_STATE)
        if stored:
            return SigningKey.from_pem(stored.encode())
        key = SigningKey.generate("ES256")
        await self.state.put(SIGNING_KEY_STATE, key.to_pem().decode())
        return key

    async def _load_noise_key(self) -> bytes:
        stored = await self.state.get(NOISE_KEY_STATE)
        if stored:
            return b64url_decode(stored)
        private = generate_static_private()
        await self.state.put(NOISE_KEY_STATE, b64url_encode(private))
        return private

    @property
    def noise_public(self) -> bytes:
        return static_public_from_private(self.noise_private)

    def server_info(self) -> dict:
        return {"protocol": "interop-sandbox", "versions": sorted(SUPPORTED_VERSIONS),
                "noise_static_public": b64url_encode(self.noise_public),
                "gateway_id": self.config.effective_gateway_id,
                "integrator_id": self.config.integrator_id}

    def jwks(self) -> dict:
        return jwks_document([self.signing_key])

    async def _load_clock(self) -> None:
        if isinstance(self.clock, AdjustableClock) and self.config.test_clock:
            stored = await self.state.get(CLOCK_OFFSET_STATE)
            if stored:
                self.clock.offset_seconds = max(self.clock.offset_seconds, float(stored))

    async def save_clock(self) -> None:
        if isinstance(self.clock, AdjustableClock):
            await self.state.put(CLOCK_OFFSET_STATE, repr(self.clock.offset_seconds))

    # --- housekeeping ----------------------------------------------------------------------

    def retention_cutoff_ms(self) -> int:
        return millis(self.clock) - self.config.retention_ms

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.housekeeping()
            except Exception:
                log.exception("Housekeeping failed")
            await asyncio.sleep(self.config.sweep_interval)

    async def housekeeping(self) -> dict[str, Any]:
        """Drop expired mailbox entries and media, un-enlist users idle for too long."""
        now = millis(self.clock)
        cutoff = self.retention_cutoff_ms()
        expired = await self.mailbox.expire(cutoff)
        await self.sends.forget_before(cutoff)
        await self.media.expire(cutoff)
        unenlisted = []
        for user in await self.partners.idle_since(now - self.config.idle_ms):
            if self.is_connected(user.internal_id):
                continue
            await self.remove_partner_user(user.internal_id, "idle")
            unenlisted.append(user.internal_id)
        if expired or unenlisted:
            log.info("Housekeeping: %d expired mailbox entries, %d un-enlisted", expired,
                     len(unenlisted))
        return {"expired_mailbox_entries": expired, "unenlisted": unenlisted}

    async def stats(self) -> dict[str, Any]:
        return {
            "partners": len(await self.partners.list_all()),
            "connected": len(self.router.connections),
            "pushes_sent": self.push.sent,
            "pushes_failed": self.push.failed,
            "now": self.clock.now(),
        }

    # --- chat server ---------------------------------------------------------------------------

    def is_connected(self, internal_id: str) -> bool:
        return internal_id in self.router.connections

    def describe_stored_stanza(self, stored: str) -> Any:
        return stored_stanza.describe(stored_stanza.loads(stored))

    async def new_gatekeeper_address(self) -> str:
        number = await self.state.next_counter(GATEKEEPER_NUMBER_STATE)
        return f"49151{number:08d}@{GATEKEEPER_DOMAIN}"

    async def set_block(self, owner: str, blocked: str, block: bool, *,
                        notify_owner: bool = True) -> None:
        """Change a blocklist; a connected partner owner hears of changes made elsewhere."""
        if block:
            await self.directory.block(owner, blocked, millis(self.clock))
        else:
            await self.directory.unblock(owner, blocked)
        if notify_owner and await self.partners.get(owner) is not None:
            item = Node("item", {"jid": blocked, "action": "block" if block else "unblock"})
            await self.router.notify(owner, "blocklist", SERVER_ADDRESS, [item])

    async def remove_partner_user(self, internal_id: str, reason: str) -> None:
        await self.router.retire(internal_id, reason)

    async def _on_reenlisted(self, enlisted: Enlisted) -> None:
        if enlisted.identity_changed:
            user = await self.partners.get(enlisted.internal_id)
            if user is not None:
                await self.partners.clear_one_time_prekeys(user.internal_id)
                await self.router.identity_changed(user.internal_id, user.identity_key)
        conn = self.router.connections.get(enlisted.internal_id)
        if conn is not None and enlisted.noise_key_changed:
            await conn.end(ErrorInfo(ErrorCode.NOT_AUTHORIZED, "enlisted again"))

    def extend_admin_routes(self, app: web.Application, prefix: str) -> None:
        add_admin_chat_routes(app, self, prefix)
        add_admin_simulated_routes(app, self, prefix)
        add_admin_report_routes(app, self, prefix)

    def track_connection_task(self, task: asyncio.Task | None) -> None:
        if task is not None:
            self._connection_tasks.add(task)
            task.add_done_callback(self._connection_tasks.discard)

    async def _stop_chat(self) -> None:
        for conn in list(self.router.connections.values()):
            await conn.end(ErrorInfo(ErrorCode.UNAVAILABLE, "gateway shutting down"))
        for task in list(self._connection_tasks):
            task.cancel()
        await asyncio.gather(*self._connection_tasks, return_exceptions=True)

    def _add_chat_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat", self._chat_handler)
        app.router.add_get("/.well-known/interop/server-info", self._server_info_handler)

    async def _chat_handler(self, request: web.Request) -> web.StreamResponse:
        return await chat_endpoint(self, request)

    async def _server_info_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.server_info())

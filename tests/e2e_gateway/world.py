"""A partner side and a gatekeeper side that can each be restarted (or crashed) mid-stream.

The partner side is what the bridge runs for one opted-in user: a :class:`PartnerService` on a
real database and :class:`Vault`, with the partner server's JWKS and push routes on a real
loopback listener. The gatekeeper side is an in-process sandbox gateway with one simulated
gatekeeper user (a real Signal client). Everything observed — deliveries, the simulated user's
decrypted inbox, resends and redeliveries — is recorded here, outside the objects that restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mautrix.types import UserID

from bridge.devstack.ports import free_port
from bridge.gateway.identity import IdentityTokenIssuer
from bridge.gateway.ids import Address, UserVisibleId
from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.partner_routes import PartnerEndpoints, register_routes
from bridge.gateway.tokens import SigningKey, jwks_document
from bridge.partner.client import PartnerClient
from bridge.partner.event_queue import UserEventQueues
from bridge.partner.events import AccountChanged, ClientEvent, MessageStored, SendAcknowledged
from bridge.partner.identity_holds import forget_user as forget_identity_holds
from bridge.partner.service import GatewaySettings, PartnerService
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.server import SandboxGateway
from bridge.signal.store import SqlSignalStores
from bridge.storage import Database, open_database
from bridge.trust import MasterKey, Vault
from bridge.trust.forgetting import UserData

log = logging.getLogger("tests.e2e_gateway")

ADMIN_SECRET = "restart-test-admin-secret"
MXID = UserID("@alice:localhost")


class _HandOn:
    """What the chat flows do with a user's events, reduced to recording them: a stored
    message is handed on (recorded) and then marked delivered, an ack is counted."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed

    async def client_event(self, client: PartnerClient, event: ClientEvent) -> None:
        if isinstance(event, MessageStored):
            message = await client.stored_message(event)
            if message is not None:
                self.observed.delivered.append((message.stanza_id, message.sender,
                                                message.plaintext))
                await client.mark_delivered(message.stanza_id)
        elif isinstance(event, SendAcknowledged):
            if event.error is None:
                self.observed.acked[event.stanza_id] += 1
            else:
                self.observed.send_errors.append(event)

    async def account_event(self, event: AccountChanged) -> None:
        pass


class SandboxAdmin:
    def __init__(self, base_url: str) -> None:
        self.base = f"{base_url}/_sandbox/admin/v1"

    async def call(self, http: aiohttp.ClientSession, method: str, path: str,
                   body: Any = None) -> tuple[int, Any]:
        async with http.request(method, self.base + path, json=body,
                                headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                # Not JSON (a proxy's or aiohttp's own error page); callers retry any non-200.
                return resp.status, None


@dataclass
class Observed:
    """What both ends saw, kept across every restart."""

    #: (stanza id, sender, plaintext) for each stored message handed on from the user's events
    delivered: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: gateway acks the user's events reported, by stanza id
    acked: Counter[str] = field(default_factory=Counter)
    send_errors: list[SendAcknowledged] = field(default_factory=list)
    #: messages the gateway delivered again after the partner had stored them
    redelivered_to_partner: int = 0
    #: ciphertexts the partner sent again from its outbox after a reconnect
    resent_by_partner: int = 0
    #: connection attempts the partner made (first one included)
    partner_connects: int = 0
    #: outgoing messages whose ``send`` was cut by a crash after the plaintext was stored, and
    #: which only the bridge's own resume could send
    left_to_resume: int = 0
    #: gatekeeper sends repeated because the sandbox did not answer
    gatekeeper_send_retries: int = 0
    #: ids whose deliver call happened but were not yet marked delivered when the bridge crashed
    crash_window_ids: set[str] = field(default_factory=set)


class World:
    def __init__(self, db_url: str, sandbox_db_url: str, directory: Path) -> None:
        self.db_url = db_url
        self.directory = directory
        self.master_key = MasterKey.generate()
        self.signing_key = SigningKey.generate("RS256")
        self.partner_port = free_port()
        self.partner_base = f"http://127.0.0.1:{self.partner_port}/_interop"
        self.sandbox_config = SandboxConfig(
            host="127.0.0.1", port=free_port(), database_url=sandbox_db_url,
            partner_base_url=self.partner_base, admin_secret=ADMIN_SECRET, test_clock=True,
            sweep_interval=3600,
        )
        self.observed = Observed()
        self.sandbox: SandboxGateway | None = None
        self.db: Database | None = None
        self.service: PartnerService | None = None
        self.http: aiohttp.ClientSession | None = None
        self._bridge_http: aiohttp.ClientSession | None = None
        self._partner_runner: web.AppRunner | None = None
        self.gatekeeper_address = ""
        self.gatekeeper_username = "gina"

    @property
    def gateway_base(self) -> str:
        return self.sandbox_config.base_url

    @property
    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.gateway_base)

    # --- the gatekeeper side ---------------------------------------------------------------

    async def start_sandbox(self) -> None:
        kept_devices = self.sandbox.simulated if self.sandbox is not None else None
        self.sandbox = SandboxGateway(self.sandbox_config)
        await self.sandbox.start()
        if kept_devices is not None:
            # The simulated user's phone is not part of the gatekeeper's servers: it keeps its
            # Signal state and what it has received while the servers restart.
            kept_devices.gw = self.sandbox
            self.sandbox.simulated = kept_devices

    async def stop_sandbox(self) -> None:
        assert self.sandbox is not None
        await self.sandbox.stop()

    async def restart_sandbox(self) -> None:
        await self.stop_sandbox()
        await self.start_sandbox()

    # --- the partner side ------------------------------------------------------------------

    async def start_partner_server(self) -> None:
        self.http = aiohttp.ClientSession()
        app = web.Application()
        register_routes(app, PartnerEndpoints(
            partner_base=self.partner_base, gateway_id=self.gateway_base,
            gatekeeper_tokens=JwksCache(self.http, f"{self.gateway_base}/.well-known/jwks.json"),
            own_jwks=lambda: jwks_document([self.signing_key]),
            on_push=self._on_push,
        ), prefix="/_interop")
        self._partner_runner = web.AppRunner(app, access_log=None)
        await self._partner_runner.setup()
        await web.TCPSite(self._partner_runner, "127.0.0.1", self.partner_port).start()

    async def _on_push(self, user: UserVisibleId) -> None:
        if self.service is not None:
            await self.service.on_push(user)

    async def start_bridge(self) -> PartnerService:
        """What the bridge does at start: open the database, build the service, resume users."""
        self.db = await open_database(self.db_url, log=log.getChild("db"))
        self._bridge_http = aiohttp.ClientSession()
        tokens = IdentityTokenIssuer(self.signing_key, partner_base=self.partner_base,
                                     gateway_audience=self.gateway_base, lifetime_seconds=3600)
        self._events = UserEventQueues()
        vault = Vault(self.master_key)
        store = SqlSignalStores(vault)
        service = PartnerService(
            db=self.db, vault=vault, http=self._bridge_http, tokens=tokens,
            gateway_base=self.gateway_base,
            settings=GatewaySettings(idle_timeout=300.0, keepalive_interval=30.0),
            user_visible_id_template="{localpart}", allow_custom_username=False,
            store=store, user_data=UserData([store.delete_user, forget_identity_holds], vault),
            events=self._events, observe=lambda what, count: None,
        )
        self._events.start(_HandOn(self.observed))
        self._instrument(service)
        self.service = service
        await service.start("")
        return service

    async def stop_bridge(self) -> None:
        """A clean stop: connections closed, pending work finished, database closed."""
        service, self.service = self.service, None
        assert service is not None
        self.count_connects(service)
        await service.stop()
        await self._close_bridge_resources()

    async def crash_bridge(self) -> None:
        """Like a killed process: sockets cut, tasks cancelled mid-step, objects thrown away.

        Nothing is closed politely; whatever had not committed is rolled back by the database.
        """
        service, self.service = self.service, None
        assert service is not None
        self.count_connects(service)
        for client in service.clients.values():
            session = client.connection._channel_session
            if session is not None:
                transport = _transport_of(session._ws)
                if transport is not None:
                    transport.abort()
            tasks = [t for t in (client.connection._task, client._queued_sender,
                                 *self._events.workers())
                     if t is not None and not t.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Deliveries that reached the callback but whose "delivered" mark did not commit will be
        # handed on again by the next run: that is the at-least-once window of a crash.
        assert self.db is not None
        rows = await self.db.fetch(
            "SELECT gateway_message_id FROM signal_inbound WHERE user_id=$1 AND state='decrypted'",
            MXID)
        seen = {stanza_id for stanza_id, _, _ in self.observed.delivered}
        self.observed.crash_window_ids |= {r["gateway_message_id"] for r in rows} & seen
        await self._close_bridge_resources()

    async def _close_bridge_resources(self) -> None:
        if self._bridge_http is not None:
            await self._bridge_http.close()
        if self.db is not None:
            await self.db.stop()
        self.db = None

    def count_connects(self, service: PartnerService) -> None:
        self.observed.partner_connects += sum(c.connection.connect_count
                                              for c in service.clients.values())

    def client(self) -> PartnerClient:
        assert self.service is not None
        client = self.service.client(MXID)
        assert client is not None
        return client

    def _instrument(self, service: PartnerService) -> None:
        """Count redeliveries and resends on every client the service builds (observation
        only: the real methods run unchanged)."""
        build = service._client_for
        observed = self.observed

        async def client_for(account):
            known = service.clients.get(account.user_id)
            client = await build(account)
            if client is known:
                return client
            receive, committed = client.inbox.receive, client.outbox.committed

            async def counting_receive(*args, **kwargs):
                result = await receive(*args, **kwargs)
                observed.redelivered_to_partner += int(result.redelivered)
                return result

            async def counting_committed():
                listed = await committed()
                observed.resent_by_partner += len(listed)
                return listed

            client.inbox.receive = counting_receive
            client.outbox.committed = counting_committed
            return client

        service._client_for = client_for

    # --- both -------------------------------------------------------------------------------

    async def set_up(self) -> None:
        await self.start_sandbox()
        await self.start_partner_server()
        await self.start_bridge()
        assert self.service is not None and self.http is not None
        # The user was shown the disclosure and confirmed (the management-room flow).
        await self.service.accounts.record_disclosure(MXID)
        await self.service.opt_in(MXID)
        status, user = await self.admin.call(self.http, "POST", "/gatekeeper-users",
                                             {"username": self.gatekeeper_username})
        assert status == 201, user
        self.gatekeeper_address = user["address"]
        status, body = await self.admin.call(
            self.http, "POST", f"/gatekeeper-users/{self.gatekeeper_username}/simulate")
        assert status == 200, body

    async def tear_down(self) -> None:
        with contextlib.suppress(Exception):
            if self.service is not None:
                await self.stop_bridge()
        if self.sandbox is not None:
            await self.sandbox.stop()
        if self._partner_runner is not None:
            await self._partner_runner.cleanup()
        if self.http is not None:
            await self.http.close()

    @property
    def partner_address(self) -> Address:
        return Address(self.client().internal_id)


def _transport_of(ws: aiohttp.ClientWebSocketResponse) -> asyncio.Transport | None:
    response = getattr(ws, "_response", None)
    connection = getattr(response, "connection", None)
    return getattr(connection, "transport", None)

"""The bridge process: owns the database, the appservice listener and the Matrix inbox, and stops
cleanly on SIGTERM/SIGINT without losing work the homeserver already handed over."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal

import aiohttp
from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.util.async_db import Database

from . import __version__
from .chats.incoming import IncomingFlow
from .chats.media import HomeserverMedia, HostedMedia
from .chats.message_ids import MessageIds
from .chats.outgoing import OutgoingFlow
from .chats.reporting import ReportEvidence, Reporting
from .chats.requests import MessageRequests
from .chats.signals import ContactSignalsFlow
from .chats.spaces import InboxSpaces
from .config import Config
from .gateway.identity import IdentityTokenIssuer
from .gateway.jwks_client import JwksCache
from .gateway.partner_routes import PartnerEndpoints, register_routes
from .gateway.tokens import SigningKey, jwks_document
from .matrix.appservice import BridgeAppService
from .matrix.bridge_state import BridgeStates, register_bridge_state_route
from .matrix.commands import build_registry
from .matrix.connection_notices import ConnectionNotices
from .matrix.e2ee import MatrixEncryption
from .matrix.homeserver import (
    check_homeserver_reaches_bridge,
    check_registration,
    wait_for_homeserver,
)
from .matrix.inbox import MatrixInbox
from .matrix.portals import Portals, build_portals
from .matrix.puppet import Puppets
from .matrix.router import MatrixEventRouter
from .matrix.users import MatrixUsers
from .metrics import BridgeMetrics, MetricsServer
from .partner.client import IncomingMessage, PartnerClient, SendResult
from .partner.service import PartnerService
from .provisioning import ProvisioningApi
from .storage import open_database
from .trust import MasterKey, Vault
from .trust.startup import load_master_key

log = logging.getLogger("bridge")


def configure_logging(config: Config) -> None:
    logging.config.dictConfig(config.as_plain_dict("logging"))


class Bridge:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = log
        self.db: Database | None = None
        self.users: MatrixUsers | None = None
        self.appservice: BridgeAppService | None = None
        self.inbox: MatrixInbox | None = None
        self.encryption: MatrixEncryption | None = None
        self.router: MatrixEventRouter | None = None
        self.puppets: Puppets | None = None
        self.portals: Portals | None = None
        self.master_key: MasterKey | None = None
        self.vault: Vault | None = None
        self.partners: PartnerService | None = None
        self.gateway_http: aiohttp.ClientSession | None = None
        self.metrics = BridgeMetrics()
        self.metrics_server: MetricsServer | None = None
        self.provisioning: ProvisioningApi | None = None
        self.hosted_media: HostedMedia | None = None
        self.incoming: IncomingFlow | None = None
        self.outgoing: OutgoingFlow | None = None
        self.signals: ContactSignalsFlow | None = None
        self.requests: MessageRequests | None = None
        self.spaces: InboxSpaces | None = None
        self.reporting: Reporting | None = None
        self.bridge_states: BridgeStates | None = None
        self.connection_notices: ConnectionNotices | None = None
        self._stop_requested = asyncio.Event()

    async def start(self) -> None:
        config = self.config
        self.log.info("interop-bridge %s starting", __version__)
        self.db = await open_database(
            config["appservice.database"],
            log=self.log.getChild("db"),
            db_args=dict(config["appservice.database_opts"]) if not
            config["appservice.database"].startswith("sqlite") else None,
        )
        self.master_key = await load_master_key(
            self.db, config.resolve_path("trust.master_key_file"))
        self.vault = Vault(self.master_key)
        self.log.info("Master key %s loaded", self.master_key.key_id)
        self.users = MatrixUsers(self.db)
        state_store = PgASStateStore(self.db)
        await state_store.upgrade_table.upgrade(self.db)
        self.inbox = MatrixInbox(
            self.db, self._route, log=self.log.getChild("inbox"),
            on_retry=lambda: self.metrics.retries.labels("matrix_event_handled_again").inc())
        self.appservice = BridgeAppService(
            inbox=self.inbox,
            server=config["homeserver.address"],
            domain=config["homeserver.domain"],
            verify_ssl=config["homeserver.verify_ssl"],
            as_token=config["appservice.as_token"],
            hs_token=config["appservice.hs_token"],
            bot_localpart=config["appservice.bot_username"],
            id=config["appservice.id"],
            log=self.log.getChild("appservice"),
            state_store=state_store,
            ephemeral_events=config["appservice.ephemeral_events"],
            bridge_name="interop",
            default_ua=f"interop-bridge/{__version__}",
        )
        self.gateway_http = aiohttp.ClientSession(
            headers={"User-Agent": f"interop-bridge/{__version__}"})
        self._mount_partner_server()
        host, port = config["appservice.hostname"], config["appservice.port"]
        await self.appservice.start(host, port)
        self.log.info("Listening for the homeserver on %s:%d", host, port)
        await wait_for_homeserver(self.appservice.http_session, config["homeserver.address"],
                                  self.log.getChild("homeserver"))
        bot = self.appservice.intent
        await check_registration(bot, self.log.getChild("homeserver"))
        await bot.ensure_registered()
        if config["appservice.bot_displayname"]:
            await bot.set_displayname(config["appservice.bot_displayname"])
        if config["bridge.encryption.allow"]:
            await self._start_encryption(state_store)
        self.router = MatrixEventRouter(
            appservice=self.appservice, permissions=config["bridge.permissions"],
            users=self.users, commands=build_registry(config["bridge.command_prefix"]),
            encryption=self.encryption, is_ghost=self._is_ghost, services=self,
            portal_events=self._portal_event, portal_edus=self._portal_edu,
            portal_undecryptable=self._portal_undecryptable,
            log=self.log.getChild("router"),
        )
        self.puppets, self.portals = build_portals(
            config, self.appservice, self.db, self.router.sender,
            encryption_ready=self.encryption is not None, log=self.log.getChild("matrix"))
        self._start_chat_flows()
        await self.partners.start(config["gateway.server_static_key"])
        if config["provisioning.enabled"]:
            self.provisioning = ProvisioningApi(self, config["provisioning.shared_secret"])
            await self.provisioning.start(config["provisioning.hostname"],
                                          config["provisioning.port"])
        if config["metrics.enabled"]:
            self.metrics_server = MetricsServer(self.metrics, self._refresh_metrics)
            await self.metrics_server.start(config["metrics.hostname"], config["metrics.port"])
        await self.inbox.start()
        await check_homeserver_reaches_bridge(bot, config["appservice.id"],
                                              config["appservice.address"],
                                              self.log.getChild("homeserver"))
        self.appservice.ready = True
        self.log.info("Bridge bot %s is registered; the bridge is ready", bot.mxid)

    def _gateway_id(self) -> str:
        return self.config["gateway.gateway_id"] or self.config["gateway.base_url"]

    def _mount_partner_server(self) -> None:
        """The endpoints the gatekeeper calls, on the appservice listener, plus the service that
        owns every opted-in user's partner client."""
        config = self.config
        signing_key = SigningKey.load_or_create(
            config.resolve_path("partner_server.signing_key_file"))
        tokens = IdentityTokenIssuer(
            signing_key, partner_base=config["partner_server.public_url"],
            gateway_audience=self._gateway_id(),
            lifetime_seconds=config["partner_server.identity_token_lifetime"],
        )
        self.partners = PartnerService(
            db=self.db, vault=self.vault, http=self.gateway_http, tokens=tokens,
            gateway_base=config["gateway.base_url"],
            settings={"idle_timeout": config["gateway.idle_timeout"],
                      "keepalive_interval": config["gateway.keepalive_interval"],
                      "reconnect_backoff_initial": config["gateway.reconnect_backoff_initial"],
                      "reconnect_backoff_max": config["gateway.reconnect_backoff_max"]},
            user_visible_id_template=config["bridge.user_visible_id_template"],
            allow_custom_username=config["bridge.allow_custom_username"],
            deliver=self._deliver_incoming, report=self._report_send_result,
            on_state_change=self._on_partner_state,
            identity_change_policy=config["bridge.identity_change_policy"],
        )
        self.bridge_states = BridgeStates(
            appservice=self.appservice, users=self.users, partners=self.partners,
            status_endpoint=config["homeserver.status_endpoint"],
            as_token=config["appservice.as_token"], log=self.log.getChild("bridge_state"))
        register_bridge_state_route(self.appservice.app, self.bridge_states)
        self.connection_notices = ConnectionNotices(
            notify_user=self.notify_user, bridge_states=self.bridge_states,
            delay=config["bridge.connection_notices.delay"],
            min_interval=config["bridge.connection_notices.min_interval"],
            log=self.log.getChild("connection_notices"))
        self.partners.on_connection_state = self.connection_notices.connection_changed
        self.partners.observe = self._observe_partner
        self.hosted_media = HostedMedia(self.db, self.gateway_http,
                                        gateway_base=config["gateway.base_url"],
                                        integrator_id=config["gateway.integrator_id"])
        register_routes(self.appservice.app, PartnerEndpoints(
            partner_base=config["partner_server.public_url"], gateway_id=self._gateway_id(),
            gatekeeper_tokens=JwksCache(self.gateway_http, config["gateway.jwks_url"]),
            own_jwks=lambda: jwks_document([signing_key]),
            on_push=self.partners.on_push,
            media=self.hosted_media,
        ), prefix=config["partner_server.path_prefix"])

    def _start_chat_flows(self) -> None:
        message_ids = MessageIds(self.db, self.portals.messages)
        matrix_media = HomeserverMedia(self.appservice.intent)
        self.requests = (MessageRequests(self.db) if self.config["bridge.message_requests"]
                         else None)
        self.incoming = IncomingFlow(portals=self.portals, puppets=self.puppets,
                                     message_ids=message_ids, matrix_media=matrix_media,
                                     hosted_media=self.hosted_media, requests=self.requests,
                                     notify_user=self.notify_user, on_bridged=self._count)
        self.outgoing = OutgoingFlow(partners=self.partners, message_ids=message_ids,
                                     matrix_media=matrix_media, hosted_media=self.hosted_media,
                                     portals=self.portals,
                                     permissions=self.config["bridge.permissions"],
                                     on_bridged=self._count,
                                     command_prefix=self.config["bridge.command_prefix"])
        self.signals = ContactSignalsFlow(portals=self.portals, partners=self.partners,
                                          message_ids=message_ids, notify_user=self.notify_user,
                                          command_prefix=self.config["bridge.command_prefix"])
        self.partners.signals = self.signals
        self.spaces = InboxSpaces(bot=self.appservice.intent, users=self.users,
                                  portals=self.portals, domain=self.config["homeserver.domain"],
                                  default_inbox=self.config["bridge.inbox_default"])
        self.portals.on_created.append(self.spaces.portal_created)
        self.reporting = Reporting(
            evidence=ReportEvidence(self.db, self.vault,
                                    self.config["bridge.reportable_messages"]),
            portals=self.portals, requests=self.requests)

    async def notify_user(self, mxid, text: str) -> None:
        """A notice in the user's management room (if they have one)."""
        user = await self.users.get(mxid)
        if user is not None and user.management_room:
            await self.router.send_notice(user.management_room, text)

    def _observe_partner(self, what: str, count: int) -> None:
        if what == "signal_decrypt_failed":
            self.metrics.decrypt_failures.labels("signal").inc(count)
        else:
            self.metrics.retries.labels(what).inc(count)

    async def _count(self, direction: str, kind: str, result: str) -> None:
        self.metrics.messages.labels(direction, kind, result).inc()

    async def _portal_event(self, event) -> bool:
        portal = await self.portals.by_room(event.room_id)
        if portal is None:
            return False
        # Every event of the owner goes to the flow: what cannot be mapped (a poll, say) is
        # refused there visibly, never dropped here.
        with self.metrics.handling_seconds.labels("to_gateway").time():
            await self.outgoing.handle(portal, event)
        return True

    async def _portal_undecryptable(self, event) -> bool:
        self.metrics.decrypt_failures.labels("matrix").inc()
        portal = await self.portals.by_room(event.room_id)
        if portal is None:
            return False
        await self.outgoing.undecryptable(portal, event)
        return True

    async def _portal_edu(self, edu: dict) -> None:
        room_id = edu.get("room_id")
        portal = await self.portals.by_room(room_id) if room_id else None
        if portal is None:
            return
        content = edu.get("content") or {}
        if edu.get("type") == "m.receipt":
            await self.signals.matrix_receipt(portal, content)
        elif edu.get("type") == "m.typing":
            await self.signals.matrix_typing(portal, content.get("user_ids") or [])

    async def _on_partner_state(self, mxid, state: str, explanation: str = "", *,
                                error: str = "", removed: bool = False) -> None:
        if state == "connection-stopped":
            self.connection_notices.stopped(mxid, explanation, error, removed=removed)
            return
        if state == "opted-in":
            self.connection_notices.opted_in(mxid)
        elif state == "opted-out":
            self.connection_notices.opted_out(mxid)
        reasons = {
            "opted-out": "You turned off third-party chats: this chat is read-only. Send "
                         "`opt-in` to the bridge bot to turn them on again.",
            "unenlisted": "The gatekeeper removed your third-party chats account: this chat is "
                          "read-only. Send `opt-in` to the bridge bot to join again.",
        }
        if state in reasons:
            await self.portals.set_read_only_for_user(mxid, reasons[state])

    async def _deliver_incoming(self, client: PartnerClient, message: IncomingMessage) -> bool:
        """A decrypted message from a contact, into its portal (partner clients call this)."""
        with self.metrics.handling_seconds.labels("from_gateway").time():
            # Kept first, so that a held message request can be reported too.
            await self.reporting.evidence.record(client.mxid, message)
            return await self.incoming.deliver(client, message)

    async def _report_send_result(self, client: PartnerClient, result: SendResult) -> None:
        await self.outgoing.report(client, result)

    async def _start_encryption(self, state_store: PgASStateStore) -> None:
        self.encryption = MatrixEncryption(
            self.appservice, self.db, state_store, vault=self.vault, master_key=self.master_key,
            is_ghost=self._is_ghost, log=self.log.getChild("encryption"),
        )
        await self.encryption.start()
        self.appservice.crypto_handlers.append(self.encryption.handle_crypto_state)

    def _ghost_affixes(self) -> tuple[str, str]:
        before, after = self.config["bridge.username_template"].split("{internal_id}", 1)
        return f"@{before}", f"{after}:{self.config['homeserver.domain']}"

    def _is_ghost(self, user_id: str) -> bool:
        prefix, suffix = self._ghost_affixes()
        return user_id.startswith(prefix) and user_id.endswith(suffix)

    async def _route(self, item) -> None:
        with self.metrics.handling_seconds.labels("from_matrix").time():
            await self.router.handle(item)

    async def _refresh_metrics(self, metrics: BridgeMetrics) -> None:
        metrics.queue_depth.labels("matrix_inbox").set(await self.inbox.pending_count())
        for queue, table, state in (("gateway_outbound", "signal_outbound", "queued"),
                                    ("gateway_outbound", "signal_outbound", "encrypted"),
                                    ("gateway_inbound", "signal_inbound", "decrypted")):
            count = await self.db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE state=$1", state)
            metrics.queue_depth.labels(f"{queue}_{state}").set(count)
        states: dict[str, int] = {}
        for client in self.partners.clients.values():
            state = client.connection.state.value
            states[state] = states.get(state, 0) + 1
        for state in ("idle", "connecting", "open", "backing-off", "stopped"):
            metrics.connections.labels(state).set(states.get(state, 0))

    async def stop(self) -> None:
        """Refuse new transactions, let accepted ones finish or stay queued, close the database."""
        self.log.info("Stopping")
        if self.appservice:
            self.appservice.ready = False
            # Requests in flight finish first, so every acknowledged transaction is stored.
            await self.appservice.stop_listening()
        if self.inbox:
            # Workers may still talk to the homeserver, so the HTTP session outlives them.
            await self.inbox.stop()
        if self.provisioning:
            await self.provisioning.stop()
        if self.metrics_server:
            await self.metrics_server.stop()
        if self.partners:
            await self.partners.stop()
        if self.connection_notices:
            await self.connection_notices.stop()
        if self.gateway_http:
            await self.gateway_http.close()
        if self.appservice:
            await self.appservice.stop()
        if self.encryption:
            await self.encryption.stop()
        if self.db:
            await self.db.stop()
        self.log.info("Stopped")

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run(self) -> None:
        """Start, wait for SIGTERM or SIGINT, stop. A signal during start-up aborts the start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        starting = asyncio.create_task(self.start())
        stop_waiter = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({starting, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                self.log.info("Stop requested during start-up")
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
            else:
                starting.result()  # re-raises a start-up failure
                await stop_waiter
        finally:
            stop_waiter.cancel()
            await self.stop()

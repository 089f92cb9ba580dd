"""The composition root: every service of the bridge, built once, in dependency order.

:func:`build_services` only constructs (and reads the signing key file); nothing here talks to
the homeserver or the gateway, and nothing is changed on a service after it is built. Two
queues are built before their consumers, because the consumers need what fills the queues: the
Matrix inbox (filled by the appservice listener, consumed by the router) and the partner-event
queues (filled by the partner clients, consumed by the chat flows). Each is handed its consumer
when :mod:`bridge.app` starts it.
"""

from __future__ import annotations

import logging

import aiohttp
import attrs
from mautrix.appservice.state_store.asyncpg import PgASStateStore

from . import __version__
from .chats.contact_signals import ContactSignalsFlow
from .chats.media import HomeserverMedia, HostedMedia
from .chats.message_ids import MessageIds
from .chats.remote_events import PartnerEvents
from .chats.reporting import ReportEvidence, Reporting
from .chats.requests import MessageRequests
from .chats.room_events import PortalRoomEvents
from .chats.to_gateway import ToGatewayFlow
from .chats.to_matrix import ToMatrixFlow
from .commands import CommandRegistry, build_registry
from .commands.services import CommandServices
from .config import Config
from .gateway.identity import IdentityTokenIssuer
from .gateway.jwks_client import JwksCache
from .gateway.partner_routes import PartnerEndpoints, register_routes
from .gateway.tokens import SigningKey, jwks_document
from .matrix.appservice import BridgeAppService
from .matrix.bridge_state import BridgeStates, register_bridge_state_route
from .matrix.connection_notices import ConnectionNotices
from .matrix.e2ee import MatrixEncryption
from .matrix.ids import ghost_matcher
from .matrix.inbox import MatrixInbox
from .matrix.notices import UserNotices
from .matrix.portals import Portals, build_portals
from .matrix.puppet import Puppets
from .matrix.router import MatrixEventRouter
from .matrix.sending import MatrixSender
from .matrix.spaces import InboxSpaces
from .matrix.users import MatrixUsers
from .metrics import BridgeMetrics
from .partner.event_queue import UserEventQueues
from .partner.identity_holds import forget_user as forget_identity_holds
from .partner.service import GatewaySettings, PartnerService
from .provisioning import ProvisioningApi
from .signal.store import SqlSignalStores
from .storage import Database
from .trust import MasterKey, UserScopes, Vault
from .trust.forgetting import UserData


@attrs.frozen(kw_only=True)
class Services:
    config: Config
    db: Database
    master_key: MasterKey
    vault: Vault
    metrics: BridgeMetrics
    #: for the gateway and the media it hosts; closed last but one, after the partner clients
    gateway_http: aiohttp.ClientSession
    state_store: PgASStateStore
    users: MatrixUsers
    inbox: MatrixInbox
    appservice: BridgeAppService
    #: None when ``bridge.encryption.allow`` is off
    encryption: MatrixEncryption | None
    sender: MatrixSender
    notices: UserNotices
    spaces: InboxSpaces
    puppets: Puppets
    portals: Portals
    partner_events: UserEventQueues
    partners: PartnerService
    bridge_states: BridgeStates
    connection_notices: ConnectionNotices
    hosted_media: HostedMedia
    requests: MessageRequests | None
    to_matrix: ToMatrixFlow
    to_gateway: ToGatewayFlow
    signals: ContactSignalsFlow
    reporting: Reporting
    partner_event_handler: PartnerEvents
    room_events: PortalRoomEvents
    commands: CommandRegistry
    router: MatrixEventRouter
    #: None when ``provisioning.enabled`` is off
    provisioning: ProvisioningApi | None


def _gateway_id(config: Config) -> str:
    return config["gateway.gateway_id"] or config["gateway.base_url"]


def build_services(config: Config, db: Database, master_key: MasterKey) -> Services:
    """All services, for a database that is open and a master key that matches it."""
    vault = Vault(master_key)
    metrics = BridgeMetrics()
    log = logging.getLogger("bridge")
    domain = config["homeserver.domain"]
    is_ghost = ghost_matcher(config["bridge.username_template"], domain)
    gateway_http = aiohttp.ClientSession(headers={"User-Agent": f"interop-bridge/{__version__}"})

    # --- the Matrix side ----------------------------------------------------------------------
    users = MatrixUsers(db)
    state_store = PgASStateStore(db)
    inbox = MatrixInbox(db, log=log.getChild("inbox"),
                        on_retry=lambda: metrics.retries.labels("matrix_event_handled_again")
                        .inc())
    appservice = BridgeAppService(
        inbox=inbox,
        server=config["homeserver.address"],
        domain=domain,
        verify_ssl=config["homeserver.verify_ssl"],
        as_token=config["appservice.as_token"],
        hs_token=config["appservice.hs_token"],
        bot_localpart=config["appservice.bot_username"],
        id=config["appservice.id"],
        log=log.getChild("appservice"),
        state_store=state_store,
        ephemeral_events=config["appservice.ephemeral_events"],
        bridge_name="interop",
        default_ua=f"interop-bridge/{__version__}",
    )
    encryption = (MatrixEncryption(appservice, db, state_store, vault=vault,
                                   master_key=master_key, is_ghost=is_ghost,
                                   log=log.getChild("encryption"))
                  if config["bridge.encryption.allow"] else None)
    sender = MatrixSender(appservice, encryption)
    notices = UserNotices(users, sender)
    spaces = InboxSpaces(appservice=appservice, users=users, domain=domain,
                         default_inbox=config["bridge.inbox_default"])
    puppets, portals = build_portals(config, appservice, db, sender, spaces=spaces,
                                     encryption_ready=encryption is not None,
                                     log=log.getChild("matrix"))

    # --- the partner side ---------------------------------------------------------------------
    signing_key = SigningKey.load_or_create(config.resolve_path("partner_server.signing_key_file"))
    tokens = IdentityTokenIssuer(
        signing_key, partner_base=config["partner_server.public_url"],
        gateway_audience=_gateway_id(config),
        lifetime_seconds=config["partner_server.identity_token_lifetime"],
    )
    signal_store = SqlSignalStores(vault)
    # Kept for reports; built here because opting out forgets it too.
    evidence = ReportEvidence(db, UserScopes(vault), config["bridge.reportable_messages"])
    user_data = UserData([signal_store.delete_user, forget_identity_holds,
                          evidence.forget_user], vault)
    partner_events = UserEventQueues()
    partners = PartnerService(
        db=db, vault=vault, http=gateway_http, tokens=tokens,
        gateway_base=config["gateway.base_url"],
        settings=GatewaySettings(
            idle_timeout=config["gateway.idle_timeout"],
            keepalive_interval=config["gateway.keepalive_interval"],
            reconnect_backoff_initial=config["gateway.reconnect_backoff_initial"],
            reconnect_backoff_max=config["gateway.reconnect_backoff_max"]),
        user_visible_id_template=config["bridge.user_visible_id_template"],
        allow_custom_username=config["bridge.allow_custom_username"],
        store=signal_store, user_data=user_data, events=partner_events,
        observe=metrics.observe_partner,
        identity_change_policy=config["bridge.identity_change_policy"],
    )
    bridge_states = BridgeStates(
        appservice=appservice, users=users, partners=partners,
        status_endpoint=config["homeserver.status_endpoint"],
        as_token=config["appservice.as_token"], log=log.getChild("bridge_state"))
    register_bridge_state_route(appservice.app, bridge_states)
    connection_notices = ConnectionNotices(
        notify_user=notices.notify, bridge_states=bridge_states,
        delay=config["bridge.connection_notices.delay"],
        min_interval=config["bridge.connection_notices.min_interval"],
        log=log.getChild("connection_notices"))
    hosted_media = HostedMedia(db, gateway_http, gateway_base=config["gateway.base_url"],
                               integrator_id=config["gateway.integrator_id"])
    register_routes(appservice.app, PartnerEndpoints(
        partner_base=config["partner_server.public_url"], gateway_id=_gateway_id(config),
        gatekeeper_tokens=JwksCache(gateway_http, config["gateway.jwks_url"]),
        own_jwks=lambda: jwks_document([signing_key]),
        on_push=partners.on_push,
        media=hosted_media,
    ), prefix=config["partner_server.path_prefix"])

    # --- the chat flows between them ----------------------------------------------------------
    command_prefix = config["bridge.command_prefix"]
    message_ids = MessageIds(db, portals.messages)
    matrix_media = HomeserverMedia(appservice)
    requests = MessageRequests(db) if config["bridge.message_requests"] else None
    to_matrix = ToMatrixFlow(portals=portals, puppets=puppets, message_ids=message_ids,
                            matrix_media=matrix_media, hosted_media=hosted_media,
                            requests=requests, notices=notices, metrics=metrics)
    to_gateway = ToGatewayFlow(partners=partners, message_ids=message_ids,
                            matrix_media=matrix_media, hosted_media=hosted_media,
                            portals=portals, permissions=config["bridge.permissions"],
                            metrics=metrics, command_prefix=command_prefix)
    signals = ContactSignalsFlow(portals=portals, partners=partners, message_ids=message_ids,
                                 notices=notices, command_prefix=command_prefix)
    reporting = Reporting(evidence=evidence, portals=portals, requests=requests)
    partner_event_handler = PartnerEvents(
        to_matrix=to_matrix, to_gateway=to_gateway, signals=signals, evidence=evidence,
        portals=portals, connection_notices=connection_notices, metrics=metrics)
    room_events = PortalRoomEvents(portals=portals, to_gateway=to_gateway, signals=signals,
                                   metrics=metrics)

    # --- what people and admins talk to -------------------------------------------------------
    commands = build_registry(command_prefix, CommandServices(
        config=config, db=db, users=users, partners=partners, portals=portals,
        puppets=puppets, spaces=spaces, requests=requests, reporting=reporting,
        encryption=encryption, metrics=metrics, notices=notices))
    router = MatrixEventRouter(
        appservice=appservice, permissions=config["bridge.permissions"], users=users,
        commands=commands, encryption=encryption, is_ghost=is_ghost, room_events=room_events,
        sender=sender, metrics=metrics, log=log.getChild("router"))
    provisioning = (ProvisioningApi(partners=partners, portals=portals, requests=requests,
                                    spaces=spaces, permissions=config["bridge.permissions"],
                                    secret=config["provisioning.shared_secret"])
                    if config["provisioning.enabled"] else None)
    return Services(
        config=config, db=db, master_key=master_key, vault=vault, metrics=metrics,
        gateway_http=gateway_http, state_store=state_store, users=users, inbox=inbox,
        appservice=appservice, encryption=encryption, sender=sender, notices=notices,
        spaces=spaces, puppets=puppets, portals=portals, partner_events=partner_events,
        partners=partners, bridge_states=bridge_states, connection_notices=connection_notices,
        hosted_media=hosted_media, requests=requests, to_matrix=to_matrix, to_gateway=to_gateway,
        signals=signals, reporting=reporting, partner_event_handler=partner_event_handler,
        room_events=room_events, commands=commands, router=router, provisioning=provisioning,
    )

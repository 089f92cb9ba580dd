"""Opting in and out, and keeping one partner client per opted-in user.

Opt-in creates the user's partner identity inside their trust boundary (Signal identity and
prekeys, a Noise static key, all sealed), has the partner server sign an identity token for their
user-visible id, enlists with the gateway, uploads prekeys and connects. Opt-out asks the gateway
to delete the user, then crypto-shreds the boundary.
"""

from __future__ import annotations

import base64
import logging

import aiohttp
import attrs
from mautrix.types import UserID
from mautrix.util.async_db import Database

from ..gateway.backoff import Backoff
from ..gateway.connection import (
    ConnectionSettings,
    ConnectionState,
    ConnectionUnavailable,
    GatewayConnection,
)
from ..gateway.connection_types import Handlers
from ..gateway.connection_types import Outbox as ResendSource
from ..gateway.enlistment import EnlistmentError, EnlistmentKeys, enlist
from ..gateway.errors import ErrorCode, ErrorInfo, GatewayError
from ..gateway.identity import IdentityTokenIssuer
from ..gateway.ids import UserVisibleId
from ..gateway.noise_channel import generate_static_private, static_public_from_private
from ..gateway.requests import SignedPreKey
from ..signal.durable import Inbox, Outbox
from ..signal.party import SignalParty
from ..signal.store import SqlSignalStores
from ..signal.types import UserId
from ..storage import acquire, transaction
from ..trust import Purpose, Vault
from ..trust.forgetting import UserData
from ..trust.scope import UserScopes
from .accounts import AccountState, PartnerAccount, PartnerAccounts
from .client import Observer, PartnerClient
from .connection_watch import stop_error_code
from .event_queue import UserEventQueues
from .events import AccountChange, AccountChanged
from .identity_holds import IdentityHolds


@attrs.frozen(kw_only=True)
class GatewaySettings:
    """How the partner clients keep their connections (``gateway.*`` in the config)."""

    idle_timeout: float = 300.0
    keepalive_interval: float = 30.0
    reconnect_backoff_initial: float = 1.0
    reconnect_backoff_max: float = 300.0

_PINNED_GATEWAY_KEY = "gateway.noise_static_public"

log = logging.getLogger("bridge.partner")


class GatewayUnreachable(Exception):
    pass


class OptInError(Exception):
    """Opt-in could not finish; the message is for the person who asked."""


class PartnerService:
    def __init__(self, *, db: Database, vault: Vault, http: aiohttp.ClientSession,
                 tokens: IdentityTokenIssuer, gateway_base: str, settings: GatewaySettings,
                 user_visible_id_template: str, allow_custom_username: bool,
                 store: SqlSignalStores, user_data: UserData, events: UserEventQueues,
                 observe: Observer, identity_change_policy: str = "notice") -> None:
        self.db = db
        self.http = http
        self.tokens = tokens
        self.gateway_base = gateway_base.rstrip("/")
        self.settings = settings
        self.user_visible_id_template = user_visible_id_template
        self.allow_custom_username = allow_custom_username
        # Every client publishes onto its user's queue; so do opt-in, opt-out and stops.
        self.events = events
        # "notice": a contact's changed identity key is accepted with a security notice;
        # "block": nothing goes to or comes from them until the user confirms it (`trust`).
        self.identity_change_policy = identity_change_policy
        # Told of decrypt failures, retries and resends (the metrics count them).
        self.observe = observe
        self.accounts = PartnerAccounts(db)
        self.scopes = UserScopes(vault)
        self.store = store
        # What opting out forgets (every repository with per-user data, then the data key).
        self.user_data = user_data
        self.clients: dict[UserID, PartnerClient] = {}
        self.gateway_static_public: bytes | None = None
        self._configured_static_key = ""
        # The partner-server routes are up before the rest of the bridge: a push that comes
        # earlier is covered by start(), which wakes every active user anyway.
        self._started = False

    # --- start and stop ----------------------------------------------------------------------

    async def start(self, configured_static_key: str) -> None:
        self._configured_static_key = configured_static_key
        self._started = True
        for account in await self.accounts.active():
            try:
                client = await self._client_for(account)
            except GatewayUnreachable as e:
                log.warning("Not connecting %s yet: %s", account.user_id, e)
                continue
            await client.resume()
            # Drain whatever the gateway kept in the mailbox while the bridge was away.
            client.wake()

    async def stop(self) -> None:
        for client in list(self.clients.values()):
            await client.close()
        self.clients.clear()

    async def _gateway_key(self) -> bytes:
        if self.gateway_static_public is None:
            try:
                self.gateway_static_public = await self._gateway_static_key(
                    self._configured_static_key)
            except (aiohttp.ClientError, ValueError, KeyError) as e:
                raise GatewayUnreachable(f"could not read the gateway's server-info: {e}") from e
        return self.gateway_static_public

    async def _gateway_static_key(self, configured: str) -> bytes:
        if configured:
            return base64.b64decode(configured + "=" * (-len(configured) % 4), altchars=b"-_")
        pinned = await self.db.fetchval("SELECT value FROM bridge_state WHERE key=$1",
                                        _PINNED_GATEWAY_KEY)
        if pinned:
            return base64.b64decode(pinned)
        # Trust on first use: acceptable only for the sandbox gateway (documented in the config).
        async with self.http.get(f"{self.gateway_base}/.well-known/interop/server-info") as resp:
            info = await resp.json()
        raw = info["noise_static_public"]
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        await self.db.execute("INSERT INTO bridge_state (key, value) VALUES ($1, $2)",
                              _PINNED_GATEWAY_KEY, base64.b64encode(key).decode())
        log.warning("Pinned the gateway's Noise key from its server-info (trust on first use); "
                    "set gateway.server_static_key for a real gateway")
        return key

    # --- opt-in and opt-out ------------------------------------------------------------------

    def user_visible_id_for(self, user_id: UserID) -> str:
        localpart, domain = user_id[1:].split(":", 1)
        return self.user_visible_id_template.format(localpart=localpart, domain=domain)

    async def opt_in(self, user_id: UserID, username: str | None = None) -> PartnerAccount:
        account = await self.accounts.get(user_id)
        if account is not None and account.is_active:
            return account
        if username and not self.allow_custom_username:
            raise OptInError("Choosing your own username is not enabled on this bridge.")
        user_visible_id = username or self.user_visible_id_for(user_id)
        if await self.accounts.user_visible_id_taken(user_visible_id, user_id):
            raise OptInError(f"The username {user_visible_id!r} is already taken.")

        try:
            await self._gateway_key()
        except GatewayUnreachable as e:
            raise OptInError(f"Opting in failed: the gateway could not be reached ({e}). "
                             "Try again later.") from e
        party = SignalParty(self.store.for_user(UserId(user_id)))
        noise_private = generate_static_private()
        async with acquire(self.db) as conn, transaction(conn):
            await party.ensure_identity(conn)
            bundle = await party.bundle(conn)
            boundary = await self.scopes.of(UserId(user_id)).boundary(conn)
            sealed_noise = boundary.seal(Purpose.NOISE_STATIC, "static", noise_private)
        keys = EnlistmentKeys(
            noise_static_public=static_public_from_private(noise_private),
            registration_id=bundle.registration_id, identity_public=bundle.identity_key,
            signed_prekey=SignedPreKey(bundle.signed_pre_key_id, bundle.signed_pre_key,
                                       bundle.signed_pre_key_signature),
        )
        try:
            internal_id = await enlist(self.http, self.gateway_base, keys,
                                       self.tokens.token_for(UserVisibleId(user_visible_id)))
        except EnlistmentError as e:
            await self.accounts.set_error(user_id, f"enlistment refused: {e.reason}")
            raise OptInError(_explain_enlistment(e)) from e
        async with acquire(self.db) as conn, transaction(conn):
            await self.accounts.activate(conn, user_id, user_visible_id=user_visible_id,
                                         internal_id=internal_id, sealed_noise_key=sealed_noise)
        account = await self.accounts.get(user_id)
        if account is None:  # written just above; only a lost database row gets here
            raise OptInError("Opting in was interrupted; please try again.")
        client = await self._client_for(account)
        await client.prekeys.publish()
        log.info("%s opted in as %s (%s)", user_id, user_visible_id, internal_id)
        await self.events.publish_account(AccountChanged(user_id, AccountChange.OPTED_IN))
        return account

    async def opt_out(self, user_id: UserID) -> None:
        account = await self.accounts.get(user_id)
        if account is None or not account.is_active:
            raise OptInError("You are not opted in to third-party chats.")
        client = await self._client_for(account)
        # The gateway ends the channel with "deleted" right after; that is expected here.
        client.leaving = True
        try:
            await client.requests.delete_account()
        except (GatewayError, ConnectionUnavailable) as e:
            client.leaving = False
            log.warning("The gateway did not delete %s: %s", user_id, e)
            raise OptInError(
                f"The gateway did not confirm the deletion ({e}); try again later.") from e
        await client.close()
        self.clients.pop(user_id, None)
        await self.wipe(user_id, AccountState.OPTED_OUT)
        log.info("%s opted out; keys and sessions wiped", user_id)
        await self.events.publish_account(AccountChanged(user_id, AccountChange.OPTED_OUT))

    async def wipe(self, user_id: UserID, state: AccountState, error: str | None = None) -> None:
        async with acquire(self.db) as conn, transaction(conn):
            await self.user_data.forget(conn, UserId(user_id))
            await self.accounts.deactivate(conn, user_id, state, error)

    async def on_push(self, user_visible_id: UserVisibleId) -> None:
        if not self._started:
            log.info("Push for %s before start-up finished; start-up connects everyone",
                     user_visible_id)
            return
        account = await self.accounts.by_user_visible_id(user_visible_id)
        if account is None or not account.is_active:
            log.info("Push for unknown or inactive user %s ignored", user_visible_id)
            return
        (await self._client_for(account)).wake()

    async def _connection_stopped(self, client: PartnerClient, error: ErrorInfo) -> None:
        if client.leaving:
            return
        explanation, state = explain_stop(error)
        if state is not None:
            await self.wipe(client.user_id, state, error=explanation)
            self.clients.pop(client.user_id, None)
        else:
            await self.accounts.set_error(client.user_id, explanation)
        removed = state is not None
        if removed:
            await self.events.publish_account(AccountChanged(
                client.user_id, AccountChange.UNENLISTED, explanation))
        await self.events.publish_account(AccountChanged(
            client.user_id, AccountChange.CONNECTION_STOPPED, explanation,
            error=stop_error_code(error, removed=removed), removed=removed))

    def client(self, user_id: UserID) -> PartnerClient | None:
        return self.clients.get(user_id)

    # --- what the metrics show ---------------------------------------------------------------

    async def queue_depths(self) -> dict[str, int]:
        """Messages stored but not yet sent or handed on, by queue and state."""
        depths: dict[str, int] = {}
        for queue, table, state in (("gateway_outbound", "signal_outbound", "queued"),
                                    ("gateway_outbound", "signal_outbound", "encrypted"),
                                    ("gateway_inbound", "signal_inbound", "decrypted")):
            depths[f"{queue}_{state}"] = await self.db.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE state=$1", state)
        return depths

    def connection_states(self) -> dict[str, int]:
        """How many gateway connections are in each state (every state listed, 0 or more)."""
        states = {state.value: 0 for state in ConnectionState}
        for client in self.clients.values():
            states[client.connection.state.value] += 1
        return states

    # --- building clients --------------------------------------------------------------------

    async def _client_for(self, account: PartnerAccount) -> PartnerClient:
        existing = self.clients.get(account.user_id)
        if existing is not None:
            return existing
        if (account.internal_id is None or account.user_visible_id is None
                or account.sealed_noise_key is None):
            raise ValueError(f"{account.user_id} has no enlisted identity to connect with")
        login, user_visible_id = account.internal_id, account.user_visible_id
        scope = self.scopes.of(UserId(account.user_id))
        async with acquire(self.db) as conn:
            boundary = await scope.boundary(conn)
            noise_private = boundary.open(Purpose.NOISE_STATIC, "static", account.sealed_noise_key)
        party = SignalParty(self.store.for_user(UserId(account.user_id)),
                            accept_identity_changes=self.identity_change_policy == "notice")
        settings = ConnectionSettings(
            chat_url=self.gateway_base.replace("http", "ws", 1) + "/chat",
            gateway_static_public=await self._gateway_key(),
            idle_timeout=self.settings.idle_timeout,
            ping_interval=self.settings.keepalive_interval,
        )

        def make_connection(handlers: Handlers, outbox: ResendSource) -> GatewayConnection:
            return GatewayConnection(
                session=self.http, settings=settings, login=login,
                noise_static_private=noise_private,
                token_provider=self.tokens.provider(user_visible_id),
                outbox=outbox, handlers=handlers,
                backoff=Backoff(base=self.settings.reconnect_backoff_initial,
                                cap=self.settings.reconnect_backoff_max),
            )

        client = PartnerClient(
            user_id=account.user_id, internal_id=login, db=self.db,
            party=party, inbox=Inbox(self.db, scope, party),
            outbox=Outbox(self.db, scope, party), make_connection=make_connection,
            events=self.events, holds=IdentityHolds(self.db, scope),
            on_connection_stopped=self._connection_stopped, observe=self.observe,
        )
        self.clients[account.user_id] = client
        return client


def explain_stop(error: ErrorInfo) -> tuple[str, AccountState | None]:
    """What a stopped connection means for the person, and the account state it leads to."""
    text = (error.text or "").lower()
    if error.code == ErrorCode.NOT_AUTHORIZED and ("idle" in text or "unenlist" in text
                                                   or "deleted" in text or "not enlisted" in text):
        return (("The gatekeeper removed your third-party chats account (it is removed after 30 "
                 "days without a connection, or by the gatekeeper). Send `opt-in` to join again."),
                AccountState.UNENLISTED)
    if error.code == ErrorCode.NOT_AUTHORIZED:
        return (("The gatekeeper did not accept this bridge's credentials for you. Your admin "
                 "should check the bridge's partner-server settings; the bridge will not retry "
                 "until then."), None)
    if error.code == ErrorCode.VERSION_UNSUPPORTED:
        return (("The gatekeeper no longer supports this bridge's protocol version. Your admin "
                 "needs to upgrade the bridge."), None)
    if error.code == ErrorCode.CONNECTION_REPLACED:
        return (("Another connection took over your third-party chats account. If that was not "
                 "this bridge, tell your admin."), None)
    return (f"Your connection to the gatekeeper stopped ({int(error.code)} {error.text}).", None)


def _explain_enlistment(error: EnlistmentError) -> str:
    reasons = {
        "bad_integrator": "the gateway does not recognise this bridge's integrator id",
        "bad_token": "the gateway did not accept this bridge's identity token "
                     "(check partner_server.public_url and that the gateway can fetch our JWKS)",
        "unreachable": "the gateway could not be reached",
        "rate_limited": "the gateway is rate-limiting enlistments",
        "unavailable": "the gateway is temporarily unavailable",
    }
    reason = reasons.get(error.reason, f"the gateway refused it ({error.reason})")
    later = " Try again later." if error.transient else ""
    return f"Opting in failed: {reason}.{later}"

"""One opted-in user's partner client: Signal party, durable message tables, gateway connection.

Incoming: a ``message`` stanza is decrypted and its plaintext sealed and stored in one transaction
(:class:`bridge.signal.durable.Inbox`); only then does the connection acknowledge it. Delivery to
Matrix happens afterwards, from the stored row, and marks it delivered.

Outgoing: the plaintext is stored, then encrypted with the session update and the ciphertext in
one transaction, then sent; after a reconnect every stored-but-unacknowledged ciphertext is sent
again with the same stanza id (the gateway de-duplicates).

Restarts: ``resume()`` hands on what was stored but not delivered and sends what was stored but
not encrypted. Delivery is at least once: a crash after ``deliver`` returned but before the
delivered mark committed hands the message on again, so ``deliver`` must recognise a stanza id it
already handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import asyncio
import logging

from mautrix.types import UserID
from mautrix.util import background_task

from ..gateway import stanzas
from ..gateway.client_api import GatewayRequests
from ..gateway.codec import Node
from ..gateway.connection import GatewayConnection, Handlers
from ..gateway.errors import ErrorInfo
from ..gateway.ids import Address, InternalId, StanzaId
from ..gateway.requests import OneTimePreKey, PreKeyBundle, SignedPreKey
from ..gateway.stanzas import ServerAck
from ..signal.agreement import PeerBundle
from ..signal.durable import InboundState, Inbox, Outbox
from ..signal.party import SignalParty
from ..signal.types import PeerId
from ..storage import Database

log = logging.getLogger("bridge.partner")


@dataclass(frozen=True)
class IncomingMessage:
    """A decrypted message from a contact, stored inside the user's boundary."""

    stanza_id: str
    sender: Address
    plaintext: bytes
    timestamp: int | None


@dataclass(frozen=True)
class SendResult:
    stanza_id: str
    error: ErrorInfo | None


Deliver = Callable[["PartnerClient", IncomingMessage], Awaitable[None]]
SendReport = Callable[["PartnerClient", SendResult], Awaitable[None]]


class _OutboxView:
    """What the connection resends after a reconnect: committed ciphertexts not yet acked."""

    def __init__(self, client: "PartnerClient") -> None:
        self.client = client

    async def unacknowledged(self) -> Sequence[Node]:
        return [stanzas.message(StanzaId(m.local_id), Address(m.recipient), m.message_type,
                                m.ciphertext)
                for m in await self.client.outbox.committed()]


class PartnerClient:
    def __init__(self, *, mxid: UserID, internal_id: InternalId, db: Database, party: SignalParty,
                 inbox: Inbox, outbox: Outbox,
                 make_connection: Callable[[Handlers, _OutboxView], GatewayConnection],
                 deliver: Deliver, report: SendReport) -> None:
        self.mxid = mxid
        self.db = db
        self.internal_id = internal_id
        self.party = party
        self.inbox = inbox
        self.outbox = outbox
        self._deliver = deliver
        self._report = report
        self.log = log.getChild(internal_id)
        self.connection = make_connection(
            Handlers(on_message=self._on_message, on_server_ack=self._on_server_ack,
                     on_stopped=self._on_stopped),
            _OutboxView(self),
        )
        self.requests = GatewayRequests(self.connection)
        self.stop_error: ErrorInfo | None = None
        # Encrypting and decrypting both rewrite the sealed session row: one at a time, or two
        # overlapping transactions each write back their own copy and one ratchet step is lost
        # (PostgreSQL does not serialise them for us).
        self._session_lock = asyncio.Lock()
        #: hand-ons in progress; close() waits for them so none is cut between delivering and
        #: marking delivered (which would hand the message on again after the restart)
        self._background: set[asyncio.Task[None]] = set()
        self._handing_on: set[str] = set()
        self._queued_sender: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def wake(self) -> None:
        self.connection.wake()

    async def close(self) -> None:
        if self._queued_sender is not None:
            # Cancelled, not awaited: it may be waiting for the gateway, and what it did not
            # finish stays queued for the next start.
            self._queued_sender.cancel()
            await asyncio.gather(self._queued_sender, return_exceptions=True)
        await self.connection.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def publish_keys(self) -> None:
        """Upload the identity, the current signed prekey and the unused one-time prekeys."""
        async with self.db.acquire() as conn:
            bundle = await self.party.bundle(conn)
        await self.requests.upload_prekeys(
            [OneTimePreKey(key_id, public) for key_id, public in bundle.pre_keys],
            registration_id=bundle.registration_id, identity=bundle.identity_key,
            signed_prekey=SignedPreKey(bundle.signed_pre_key_id, bundle.signed_pre_key,
                                       bundle.signed_pre_key_signature),
        )

    async def resume(self) -> None:
        """Deliver what an earlier run stored but did not hand on, and send what it stored but
        did not encrypt (committed ciphertexts are resent by the connection itself)."""
        for stanza_id in await self.inbox.undelivered():
            await self._hand_on_once(stanza_id, sender=None, timestamp=None)
        queued = await self.outbox.queued()
        if queued:
            # In the background: encrypting may need a bundle from the gateway.
            self._queued_sender = background_task.create(self._send_queued(queued))

    async def _send_queued(self, queued: Sequence[tuple[str, PeerId]]) -> None:
        for local_id, recipient in queued:
            try:
                await self._encrypt_and_send(local_id, Address(recipient))
            except Exception:
                self.log.exception("Could not send stored message %s yet; it stays queued",
                                   local_id)

    # --- incoming ----------------------------------------------------------------------------

    async def _on_message(self, node: Node) -> None:
        sender = Address(node.attrs["from"])
        stanza_id = node.attrs["id"]
        enc = node.child("enc")
        if enc is None or not isinstance(enc.content, bytes):
            self.log.warning("Message %s from %s has no encrypted payload", stanza_id, sender)
            return
        async with self._session_lock:
            result = await self.inbox.receive(stanza_id, PeerId(sender),
                                              enc.attrs.get("type", ""), enc.content)
        # Stored (or recorded as undecryptable): returning lets the connection acknowledge it.
        # A redelivered message still in DECRYPTED state was stored by a connection that ended
        # before handing it on (its handler was cancelled right after the commit): hand it on
        # now, or it would wait for the next start of the bridge.
        if result.plaintext is not None and result.state is InboundState.DECRYPTED:
            timestamp = int(node.attrs["t"]) if node.attrs.get("t", "").isdigit() else None
            task = background_task.create(self._hand_on_once(stanza_id, sender=sender,
                                                             timestamp=timestamp))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _hand_on_once(self, stanza_id: str, *, sender: Address | None,
                            timestamp: int | None) -> None:
        """Hand a stored message on unless that is under way or done: one hand-on per id at a
        time, and the stored state (not the caller's view of it) decides."""
        if stanza_id in self._handing_on:
            return
        self._handing_on.add(stanza_id)
        try:
            stored = await self.inbox.get(stanza_id)
            if (stored is None or stored.state is not InboundState.DECRYPTED
                    or stored.plaintext is None):
                return
            if sender is None:
                sender = Address(await self.inbox.sender_of(stanza_id))
            try:
                await self._deliver(self, IncomingMessage(stanza_id, sender, stored.plaintext,
                                                          timestamp))
            except Exception:
                self.log.exception("Delivering %s failed; it stays stored for the next start",
                                   stanza_id)
                return
            await self.inbox.mark_delivered(stanza_id)
        finally:
            self._handing_on.discard(stanza_id)

    # --- outgoing ----------------------------------------------------------------------------

    async def send(self, local_id: str, recipient: Address, plaintext: bytes) -> None:
        """Store, encrypt (fetching the recipient's bundle if there is no session), send."""
        await self.outbox.submit(local_id, PeerId(recipient), plaintext)
        await self._encrypt_and_send(local_id, recipient)

    async def _encrypt_and_send(self, local_id: str, recipient: Address) -> None:
        async with self._session_lock:
            await self._ensure_session(recipient)
            message = await self.outbox.ciphertext(local_id)
        await self.connection.send(stanzas.message(StanzaId(local_id), recipient,
                                                   message.message_type, message.ciphertext))

    async def _ensure_session(self, peer: Address) -> None:
        async with self.db.acquire() as conn:
            if await self.party.has_session(conn, PeerId(peer)):
                return
        bundles = await self.requests.fetch_bundles([peer])
        bundle = bundles.get(peer)
        if isinstance(bundle, ErrorInfo) or bundle is None:
            raise BundleUnavailable(peer, bundle)
        async with self.db.acquire() as conn, conn.transaction():
            await self.party.process_bundle(conn, PeerId(peer), _peer_bundle(bundle))

    async def _on_server_ack(self, ack: ServerAck) -> None:
        if ack.stanza_class != "message":
            return  # only messages go through the outbox
        # 429/503 never get here (the connection resends those); any other error is final.
        if ack.error is None:
            await self.outbox.mark_sent(ack.stanza_id)
        else:
            await self.outbox.mark_refused(ack.stanza_id)
        await self._report(self, SendResult(ack.stanza_id, ack.error))

    async def _on_stopped(self, error: ErrorInfo) -> None:
        self.stop_error = error
        self.log.warning("Gateway connection stopped: %s %s", error.code, error.text)


class BundleUnavailable(Exception):
    def __init__(self, peer: Address, error: ErrorInfo | None) -> None:
        super().__init__(f"no prekey bundle for {peer}: {error}")
        self.peer = peer
        self.error = error


def _peer_bundle(bundle: PreKeyBundle) -> PeerBundle:
    one_time = bundle.one_time_prekey
    return PeerBundle(
        registration_id=bundle.registration_id,
        identity_key=bundle.identity,
        signed_pre_key_id=bundle.signed_prekey.key_id,
        signed_pre_key=bundle.signed_prekey.public,
        signed_pre_key_signature=bundle.signed_prekey.signature,
        pre_key_id=one_time.key_id if one_time else None,
        pre_key=one_time.public if one_time else None,
        device_id=1,
    )



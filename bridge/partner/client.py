"""One opted-in user's partner client: Signal party, durable message tables, gateway connection.

Incoming: a ``message`` stanza is decrypted and its plaintext sealed and stored in one transaction
(:class:`bridge.signal.durable.Inbox`); only then does the connection acknowledge it. Delivery to
Matrix happens afterwards, from the stored row, and marks it delivered.

Outgoing: the plaintext is stored, then encrypted with the session update and the ciphertext in
one transaction, then sent; after a reconnect every stored-but-unacknowledged ciphertext is sent
again with the same stanza id (the gateway de-duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mautrix.types import UserID
from mautrix.util import background_task

from ..gateway import stanzas
from ..gateway.client_api import GatewayRequests
from ..gateway.codec import Node
from ..gateway.connection import (
    ConnectionState,
    ConnectionUnavailable,
    GatewayConnection,
    Handlers,
)
from ..gateway.errors import ErrorInfo, GatewayError
from ..gateway.ids import Address, InternalId, StanzaId
from ..gateway.requests import OneTimePreKey, PreKeyBundle, SignedPreKey
from ..gateway.stanzas import ServerAck
from ..signal.agreement import PeerBundle
from ..signal.durable import InboundState, Inbox, Outbox
from ..signal.errors import IdentityChange, UntrustedIdentityError
from ..signal.party import SignalParty, fingerprint
from ..signal.types import PeerId
from ..storage import Database
from .identity_holds import IdentityHolds

log = logging.getLogger("bridge.partner")


@dataclass(frozen=True)
class IncomingMessage:
    """A decrypted message from a contact, stored inside the user's boundary."""

    stanza_id: str
    sender: Address
    plaintext: bytes
    timestamp: int | None
    #: The sender's user-visible username, as the gateway names it (``notify``), when known.
    username: str | None = None
    #: Stored by an earlier run (or connection), so it may have been handed on already: the
    #: hand-on was cut before the message was marked delivered.
    may_be_bridged: bool = False


@dataclass(frozen=True)
class SendResult:
    stanza_id: str
    error: ErrorInfo | None


# Returns False when the message is held (not handed on yet), anything else when it is done.
Deliver = Callable[["PartnerClient", IncomingMessage], Awaitable[bool | None]]
SendReport = Callable[["PartnerClient", SendResult], Awaitable[None]]
#: Told of things worth counting (decrypt failures, retries, resends), with how many.
Observer = Callable[[str, int], None]


class ContactSignals(Protocol):
    """What contacts do besides messages: receipts, typing, notifications from the gateway."""

    async def receipt(self, client: PartnerClient, sender: Address, stanza_ids: list[str],
                      read: bool) -> None: ...

    async def chatstate(self, client: PartnerClient, sender: Address, composing: bool
                        ) -> None: ...

    async def notification(self, client: PartnerClient, kind: str, sender: Address,
                           node: Node) -> None: ...

    async def identity_changed(self, client: PartnerClient, contact: Address,
                               change: IdentityChange, held: bool) -> None: ...


class _OutboxView:
    """What the connection resends after a reconnect: committed ciphertexts not yet acked."""

    def __init__(self, client: PartnerClient) -> None:
        self.client = client

    async def unacknowledged(self) -> Sequence[Node]:
        resend = [stanzas.message(StanzaId(m.local_id), Address(m.recipient), m.message_type,
                                  m.ciphertext)
                  for m in await self.client.outbox.committed()]
        if resend:
            self.client.observe("outbox_resent", len(resend))
        return resend


class PartnerClient:
    def __init__(self, *, mxid: UserID, internal_id: InternalId, db: Database, party: SignalParty,
                 inbox: Inbox, outbox: Outbox,
                 make_connection: Callable[[Handlers, _OutboxView], GatewayConnection],
                 deliver: Deliver, report: SendReport,
                 signals: ContactSignals | None = None,
                 holds: IdentityHolds | None = None,
                 on_connection_stopped: Callable[[PartnerClient, ErrorInfo],
                                                 Awaitable[None]] | None = None,
                 on_connection_state: Callable[[PartnerClient, ConnectionState,
                                                ErrorInfo | None], None] | None = None,
                 observe: Observer | None = None) -> None:
        self.mxid = mxid
        self.db = db
        self.internal_id = internal_id
        self.party = party
        self.inbox = inbox
        self.outbox = outbox
        self._deliver = deliver
        self._report = report
        self._signals = signals
        # Only a party that refuses changed identities (policy ``block``) ever holds a contact.
        self.holds = holds or IdentityHolds(db, inbox.vault, party.user_id)
        self._on_connection_stopped = on_connection_stopped
        self._on_connection_state = on_connection_state
        self._observe = observe
        self.log = log.getChild(internal_id)
        self.connection = make_connection(
            Handlers(on_message=self._on_message, on_server_ack=self._on_server_ack,
                     on_receipt=self._on_receipt, on_notification=self._on_notification,
                     on_info=self._on_info, on_stopped=self._on_stopped,
                     on_state=self._on_state),
            _OutboxView(self),
        )
        self.requests = GatewayRequests(self.connection)
        self.stop_error: ErrorInfo | None = None
        #: Set while opting out: the gateway's "deleted" is then the expected end.
        self.leaving = False
        # Encrypting and decrypting both rewrite the sealed session row: one at a time, or two
        # overlapping transactions each write back their own copy and one ratchet step is lost
        # (PostgreSQL does not serialise them for us).
        self._session_lock = asyncio.Lock()
        # Hand-on to Matrix happens in arrival order, one message at a time per user; close()
        # lets the one in progress finish, so none is cut between delivering and marking it
        # delivered (which would hand it on again after the restart).
        self._deliveries: asyncio.Queue[
            tuple[str, Address | None, int | None, str | None, bool]] = asyncio.Queue()
        self._delivery_task: asyncio.Task[None] | None = None
        self._closing = False
        self._queued_sender: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._closing = False
        self.connection.wake()

    async def close(self) -> None:
        if self._queued_sender is not None:
            # Cancelled, not awaited: it may be waiting for the gateway, and what it did not
            # finish stays queued for the next start.
            self._queued_sender.cancel()
            await asyncio.gather(self._queued_sender, return_exceptions=True)
        self._closing = True
        await self.connection.close()
        if self._delivery_task is not None:
            # The hand-on in progress finishes; the rest stays stored for the next start.
            await asyncio.gather(self._delivery_task, return_exceptions=True)
            self._delivery_task = None

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

    async def refill_prekeys(self) -> None:
        """The gateway says our one-time prekeys run low: top up the pool and publish it."""
        async with self.db.acquire() as conn, conn.transaction():
            await self.party.maintain_keys(conn)
        await self.publish_keys()

    async def resume(self) -> None:
        """Deliver what an earlier run stored but did not hand on, and send what it stored but
        did not encrypt (committed ciphertexts are resent by the connection itself)."""
        for stanza_id in await self.inbox.undelivered():
            self._enqueue(stanza_id, None, None, None, may_be_bridged=True)
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

    def _enqueue(self, stanza_id: str, sender: Address | None, timestamp: int | None,
                 username: str | None, *, may_be_bridged: bool) -> None:
        self._deliveries.put_nowait((stanza_id, sender, timestamp, username, may_be_bridged))
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.create_task(self._deliver_in_order(),
                                                      name=f"deliver:{self.internal_id}")

    async def _deliver_in_order(self) -> None:
        while not self._closing and not self._deliveries.empty():
            stanza_id, sender, timestamp, username, may_be_bridged = \
                self._deliveries.get_nowait()
            await self._hand_on(stanza_id, sender=sender, timestamp=timestamp,
                                username=username, may_be_bridged=may_be_bridged)

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
        if result.identity_change is not None and not result.redelivered:
            # Refused (policy block: kept undecrypted until confirmed) or accepted with a notice.
            await self._identity_changed(sender, result.identity_change,
                                         held=result.state is InboundState.FAILED)
        elif result.state == InboundState.FAILED and not result.redelivered:
            await self._ask_for_retry(node, sender)
        # Stored (or recorded as undecryptable): returning lets the connection acknowledge it.
        # A redelivered message still in DECRYPTED state was stored by a connection that ended
        # before handing it on: hand it on now, or it would wait for the next start.
        if result.plaintext is not None and result.state is InboundState.DECRYPTED:
            timestamp = int(node.attrs["t"]) if node.attrs.get("t", "").isdigit() else None
            self._enqueue(stanza_id, sender, timestamp, stanzas.sender_username(node),
                          may_be_bridged=result.redelivered)

    async def _hand_on(self, stanza_id: str, *, sender: Address | None, timestamp: int | None,
                       username: str | None, may_be_bridged: bool) -> None:
        """Hand a stored message on unless that is done already: the stored state decides (the
        same id may be queued twice, e.g. by a redelivery and a resume)."""
        stored = await self.inbox.get(stanza_id)
        if (stored is None or stored.state is not InboundState.DECRYPTED
                or stored.plaintext is None):
            return
        if sender is None:
            sender = Address(await self.inbox.sender_of(stanza_id))
        if await self.holds.is_held(PeerId(sender)):
            return  # the contact's new identity awaits confirmation; handed on after `trust`
        try:
            done = await self._deliver(self, IncomingMessage(
                stanza_id, sender, stored.plaintext, timestamp, username,
                may_be_bridged=may_be_bridged))
        except Exception:
            self.log.exception("Delivering %s failed; it stays stored for the next start",
                               stanza_id)
            return
        if done is False:
            return  # held (a message request): stays stored until the user decides
        await self.inbox.mark_delivered(stanza_id)

    async def drop_undelivered_from(self, sender: Address) -> int:
        """Forget what is held from ``sender`` (a refused message request)."""
        dropped = 0
        for stanza_id in await self.inbox.undelivered():
            if await self.inbox.sender_of(stanza_id) == sender:
                await self.inbox.mark_delivered(stanza_id)
                dropped += 1
        return dropped

    # --- outgoing ----------------------------------------------------------------------------

    async def send(self, local_id: str, recipient: Address, plaintext: bytes) -> bool:
        """Store, encrypt (fetching the recipient's bundle if there is no session), send.

        False when the message is stored but held: the recipient's changed identity key waits
        for the user's confirmation (it is sent by :meth:`confirm_identity`)."""
        await self.outbox.submit(local_id, PeerId(recipient), plaintext)
        return await self._encrypt_and_send(local_id, recipient)

    async def _encrypt_and_send(self, local_id: str, recipient: Address) -> bool:
        change: IdentityChange | None = None
        async with self._session_lock:
            if await self.holds.is_held(PeerId(recipient)):
                return False
            try:
                change = await self._ensure_session(recipient)
            except UntrustedIdentityError as e:
                refused = e.change
            else:
                refused = None
                message = await self.outbox.ciphertext(local_id)
        if refused is not None:
            await self._identity_changed(recipient, refused, held=True)
            return False
        if change is not None:
            await self._identity_changed(recipient, change, held=False)
        await self.connection.send(stanzas.message(StanzaId(local_id), recipient,
                                                   message.message_type, message.ciphertext))
        return True

    async def _ensure_session(self, peer: Address) -> IdentityChange | None:
        async with self.db.acquire() as conn:
            if await self.party.has_trusted_session(conn, PeerId(peer)):
                return None
        return await self._new_session(peer)

    async def _new_session(self, peer: Address) -> IdentityChange | None:
        bundles = await self.requests.fetch_bundles([peer])
        bundle = bundles.get(peer)
        if isinstance(bundle, ErrorInfo) or bundle is None:
            raise BundleUnavailable(peer, bundle)
        async with self.db.acquire() as conn, conn.transaction():
            return await self.party.process_bundle(conn, PeerId(peer), _peer_bundle(bundle))

    # --- changed identities of contacts ------------------------------------------------------

    async def _identity_changed(self, peer: Address, change: IdentityChange, *,
                                held: bool) -> None:
        """Record a hold (policy block) and tell the user, once per new key."""
        if held and not await self.holds.hold(PeerId(peer), change.new_identity_key):
            return  # held for this very key already; the user was told
        if self._signals is None:
            return
        try:
            await self._signals.identity_changed(self, peer, change, held)
        except Exception:
            # The hold is stored; a failed notice must not make the gateway redeliver.
            self.log.exception("Could not post the security notice about %s", peer)

    async def _check_identity_notification(self, peer: Address) -> bool:
        """The gateway says ``peer``'s identity key changed: fetch their bundle to learn the new
        key. Policy notice: start a session with it (the notice names both keys). Policy block:
        hold the contact until the user confirms it. False when the key could not be fetched."""
        try:
            bundles = await self.requests.fetch_bundles([peer])
        except (GatewayError, ConnectionUnavailable) as e:
            self.log.warning("Could not fetch the new keys of %s: %s", peer, e)
            return False
        bundle = bundles.get(peer)
        if isinstance(bundle, ErrorInfo) or bundle is None:
            return False
        async with self._session_lock:
            async with self.db.acquire() as conn:
                trusted = await self.party.trusted_identity(conn, PeerId(peer))
            if trusted is None or trusted == bundle.identity:
                return True  # never talked, or already seen (and told) through a message
            if not self.party.accept_identity_changes:
                change = IdentityChange(PeerId(peer), fingerprint(trusted),
                                        fingerprint(bundle.identity),
                                        previous_identity_key=trusted,
                                        new_identity_key=bundle.identity)
                held = True
            else:
                async with self.db.acquire() as conn, conn.transaction():
                    change = await self.party.process_bundle(conn, PeerId(peer),
                                                             _peer_bundle(bundle))
                held = False
        if change is not None:
            await self._identity_changed(peer, change, held=held)
        return True

    async def confirm_identity(self, peer: Address) -> bool:
        """The user confirmed ``peer``'s new key: trust exactly the key they were shown, then
        hand on what was held from the contact and send what was held for them, each in the
        order it came. False when nothing waited for confirmation."""
        changed_again: IdentityChange | None = None
        async with self._session_lock:
            new_key = await self.holds.held_key(PeerId(peer))
            if new_key is None:
                return False
            async with self.db.acquire() as conn, conn.transaction():
                await self.party.accept_identity(conn, PeerId(peer), new_key)
                await self.holds.release(conn, PeerId(peer))
            for stanza_id in await self.inbox.failed_from(PeerId(peer),
                                                          UntrustedIdentityError.__name__):
                result = await self.inbox.retry_failed(stanza_id)
                if result.identity_change is not None:
                    changed_again = result.identity_change
                    break
                if result.state is InboundState.FAILED:
                    self.log.warning("Held message %s from %s still does not decrypt (%s)",
                                     stanza_id, peer, result.error)
        self.log.info("Identity of %s confirmed; releasing what was held", peer)
        if changed_again is not None:
            # A newer key than the one confirmed: hold again, with a new notice.
            await self._identity_changed(peer, changed_again, held=True)
        for stanza_id in await self.inbox.undelivered():
            # Held until now, so not handed on by this run (a resume covers earlier runs).
            self._enqueue(stanza_id, None, None, None, may_be_bridged=False)
        for local_id, recipient in await self.outbox.queued():
            if recipient != peer:
                continue
            try:
                if not await self._encrypt_and_send(local_id, peer):
                    break  # held again
            except Exception:
                self.log.exception("Could not send held message %s yet; it stays queued",
                                   local_id)
        return True

    async def _on_server_ack(self, ack: ServerAck) -> None:
        if ack.stanza_class != "message":
            return  # only messages go through the outbox; our receipts need nothing
        # 429/503 never get here (the connection resends those); any other error is final.
        if ack.error is None:
            await self.outbox.mark_sent(ack.stanza_id)
        else:
            await self.outbox.mark_refused(ack.stanza_id)
        await self._report(self, SendResult(ack.stanza_id, ack.error))

    # --- what contacts do besides messages ---------------------------------------------------

    async def send_receipt(self, stanza_id: str, to: Address, *, read: bool) -> None:
        await self.connection.send(stanzas.receipt(StanzaId(stanza_id), to,
                                                   "read" if read else "delivery"))

    def observe(self, what: str, count: int = 1) -> None:
        if self._observe is not None:
            self._observe(what, count)

    async def _ask_for_retry(self, node: Node, sender: Address) -> None:
        """We could not decrypt: ask the sender to encrypt the message again."""
        self.log.info("Asking %s to resend %s", sender, node.attrs["id"])
        self.observe("signal_decrypt_failed")
        self.observe("retry_receipt_sent")
        async with self.db.acquire() as conn:
            bundle = await self.party.bundle(conn)
        original_t = int(node.attrs["t"]) if node.attrs.get("t", "").isdigit() else 0
        await self.connection.send(stanzas.retry_receipt(
            StanzaId(node.attrs["id"]), sender, 1, original_t, bundle.registration_id,
            int(time.time())))

    async def _answer_retry(self, node: Node) -> None:
        """The contact could not decrypt one of ours: re-encrypt it (from count 2 on, over a
        fresh session) and send it again under the same id."""
        sender = Address(node.attrs.get("from", ""))
        retry = node.child("retry")
        count = int(retry.attrs.get("count", "1")) if retry is not None else 1
        local_id = node.attrs["id"]
        try:
            async with self._session_lock:
                if await self.holds.is_held(PeerId(sender)):
                    self.log.info("Not resending %s: %s's new identity is not confirmed",
                                  local_id, sender)
                    return
                change = await self._new_session(sender) if count >= 2 else None
                message = await self.outbox.reencrypt(local_id)
        except KeyError:
            self.log.info("Retry receipt from %s for unknown message %s", sender, local_id)
            return
        except UntrustedIdentityError as e:
            # They reinstalled without the gateway telling us: hold them like any other change.
            await self._identity_changed(sender, e.change, held=True)
            return
        if change is not None:
            await self._identity_changed(sender, change, held=False)
        if message.recipient != sender:
            return
        self.log.info("Resending %s to %s (retry %d)", local_id, sender, count)
        self.observe("resent_for_retry_receipt")
        await self.connection.send(stanzas.message(StanzaId(local_id), sender,
                                                   message.message_type, message.ciphertext,
                                                   retry_count=count))

    async def _on_receipt(self, node: Node) -> None:
        if node.attrs.get("type") == "retry":
            await self._answer_retry(node)
            return
        if self._signals is None:
            return
        ids = [node.attrs["id"]]
        listed = node.child("list")
        if listed is not None:
            ids += [item.attrs["id"] for item in listed.children_by_tag("item")]
        await self._signals.receipt(self, Address(node.attrs.get("from", "")), ids,
                                    read=node.attrs.get("type") == "read")

    async def _on_notification(self, node: Node) -> None:
        if node.attrs.get("type") == "encrypt":
            await self.refill_prekeys()
            return
        if (node.attrs.get("type") == "identity-change"
                and await self._check_identity_notification(Address(node.attrs.get("from", "")))):
            return  # the notice (or the hold) came from the new key itself
        if self._signals is not None:
            await self._signals.notification(self, node.attrs.get("type", ""),
                                             Address(node.attrs.get("from", "")), node)

    async def _on_info(self, node: Node) -> None:
        if node.tag == "chatstate" and self._signals is not None:
            await self._signals.chatstate(self, Address(node.attrs.get("from", "")),
                                          node.child("composing") is not None)

    def _on_state(self, state: ConnectionState, error: ErrorInfo | None) -> None:
        if self._on_connection_state is not None:
            self._on_connection_state(self, state, error)

    async def _on_stopped(self, error: ErrorInfo) -> None:
        self.stop_error = error
        self.log.warning("Gateway connection stopped: %s %s", error.code, error.text)
        if self._on_connection_stopped is not None:
            await self._on_connection_stopped(self, error)


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



"""Routing of client stanzas: messages, receipts, acks, chat states, and mailbox delivery.

Every handler takes the sender's address and the stanza and returns the reply to send back (or
None), so the same code serves partner clients on the chat channel and simulated gatekeeper users
driven through the admin API. Delivery is always "store, then wake": a stanza for a partner user
is written to its mailbox first and the recipient's connection (if any) pumps it out from there,
so live and offline delivery share one ordered path and nothing is lost across restarts.
"""

from __future__ import annotations

import json
import logging
import secrets
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import SERVER_ADDRESS

from .. import stored_stanza
from ..clock import millis
from ..ids import is_internal_id
from .iq import handle_iq
from .stanzas import StanzaRejected, error_node, notification, require_id, send_ack

if TYPE_CHECKING:
    from ..server import SandboxGateway

log = logging.getLogger("bridge.sandbox.chat")

MESSAGE_TYPES = frozenset({"text", "media", "reaction"})
RECEIPT_TYPES = frozenset({"", "read", "retry"})
ACK_CLASSES = frozenset({"message", "receipt", "notification"})
CHAT_STATES = frozenset({"composing", "paused"})
# Codes after which the client resends: not recorded for dedupe (protocol §9 rule 5).
NOT_FINAL = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


#: Inside a client send's transaction: recipients to wake once it committed.
_wake_after_commit: ContextVar[list[str] | None] = ContextVar("wake_after_commit", default=None)


class LiveConnection(Protocol):
    login: str

    def wake(self) -> None: ...

    async def send_live(self, node: Node) -> None: ...

    async def end(self, info: ErrorInfo) -> None: ...

    async def drop(self) -> None: ...


class Router:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway
        self.connections: dict[str, LiveConnection] = {}
        # Connections to end right after their current reply went out (e.g. after deletion).
        self.end_after_reply: dict[str, ErrorInfo] = {}

    # --- connections ----------------------------------------------------------------------

    async def attach(self, conn: LiveConnection) -> None:
        """Register an admitted connection; an older one for the same login is replaced."""
        old = self.connections.get(conn.login)
        self.connections[conn.login] = conn
        if old is not None and old is not conn:
            log.getChild(conn.login).info("New connection replaces the old one")
            await old.end(ErrorInfo(ErrorCode.CONNECTION_REPLACED, "replaced"))

    def detach(self, conn: LiveConnection) -> None:
        if self.connections.get(conn.login) is conn:
            del self.connections[conn.login]

    # --- delivery -------------------------------------------------------------------------

    async def store_and_deliver(self, recipient: str, node: Node, *, ack_class: str,
                                stanza_id: str, peer: str, stanza_type: str = "") -> None:
        await self.gw.mailbox.put(recipient, ack_class, stanza_id, peer, stanza_type,
                                  stored_stanza.dumps(node), millis(self.gw.clock))
        pending = _wake_after_commit.get()
        if pending is not None:
            pending.append(recipient)  # the pump must not look before the entry is committed
        else:
            await self._wake_or_push(recipient)

    async def _wake_or_push(self, recipient: str) -> None:
        conn = self.connections.get(recipient)
        if conn is not None:
            conn.wake()
        elif is_internal_id(recipient):
            user = await self.gw.partners.get(recipient)
            if user is not None:
                self.gw.push.notify(user.internal_id, user.visible_id)

    async def notify(self, recipient: str, notification_type: str, sender: str,
                     content: list[Node] | None = None, *, notification_id: str | None = None
                     ) -> None:
        notification_id = notification_id or secrets.token_hex(8)
        node = notification(notification_id, notification_type, sender,
                            int(self.gw.clock.now()), content)
        await self.store_and_deliver(recipient, node, ack_class="notification",
                                     stanza_id=notification_id, peer=sender)

    async def identity_changed(self, address: str, new_identity: bytes) -> None:
        """Tell everyone who fetched the old identity (protocol §7.7 ``identity-change``)."""
        for fetcher in await self.gw.partners.fetchers_of_other_identity(address, new_identity):
            if fetcher != address:
                await self.notify(fetcher, "identity-change", address)

    async def check_low_prekeys(self, owner: str) -> None:
        count = await self.gw.partners.count_one_time_prekeys(owner)
        if count < self.gw.config.low_prekey_threshold:
            # One stable id: a client that has not acked the last warning is not warned twice.
            await self.notify(owner, "encrypt", SERVER_ADDRESS,
                              [Node("count", {"value": str(count)})],
                              notification_id="low-prekeys")

    async def retire(self, login: str, reason: str, *, end_connection: bool = True) -> None:
        """Remove a partner user (opt-out or idle un-enlistment) and tell its contacts."""
        gw = self.gw
        contacts = set(await gw.contacts.contacts_of(login)) | set(
            await gw.partners.fetchers_of(login))
        await gw.partners.remove(login, reason, millis(gw.clock))
        gw.contacts.forget_cached(login)
        for contact in sorted(contacts - {login}):
            if is_internal_id(contact) and await gw.partners.get(contact) is None:
                continue
            await self.notify(contact, "opt-out", login)
        log.getChild(login).info("Removed (%s); %d contacts notified", reason, len(contacts))
        conn = self.connections.get(login)
        if conn is not None and end_connection:
            await conn.end(ErrorInfo(ErrorCode.NOT_AUTHORIZED,
                                     "deleted" if reason == "deleted" else "not enlisted"))

    # --- addresses ------------------------------------------------------------------------

    async def username_of(self, address: str) -> str | None:
        """The directory's user-visible name of an address: a partner user's enlisted
        user-visible id, a gatekeeper user's username."""
        if is_internal_id(address):
            partner = await self.gw.partners.get(address)
            return partner.visible_id if partner is not None else None
        user = await self.gw.directory.gatekeeper_user_at(address)
        return user.username if user is not None else None

    async def check_reachable(self, sender: str, recipient: str) -> None:
        """Raise the documented error if ``sender`` may not send to ``recipient``."""
        if recipient in (sender, SERVER_ADDRESS):
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "bad recipient")
        if is_internal_id(recipient):
            if await self.gw.partners.get(recipient) is None:
                raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
        else:
            user = await self.gw.directory.gatekeeper_user_at(recipient)
            if user is None:
                raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
            if not user.opted_in:
                raise StanzaRejected(ErrorCode.NOT_OPTED_IN, "not opted in")
        directory = self.gw.directory
        if await directory.is_blocked(recipient, sender) or await directory.is_blocked(sender,
                                                                                      recipient):
            raise StanzaRejected(ErrorCode.BLOCKED, "blocked")

    # --- client → gateway stanzas -----------------------------------------------------------

    async def handle_message(self, sender: str, node: Node) -> Node:
        stanza_id = require_id(node)
        enc = node.child("enc")
        retry_count = enc.attrs.get("count", "") if enc is not None else ""
        dedupe_key = f"message\n{stanza_id}\n{retry_count}"
        return await self._once(sender, dedupe_key, "message", stanza_id, "",
                                lambda: self._route_message(sender, node, stanza_id))

    async def _route_message(self, sender: str, node: Node, stanza_id: str) -> None:
        recipient = node.attrs.get("to", "")
        enc = node.child("enc")
        if enc is None or enc.data is None or enc.attrs.get("type") not in ("pkmsg", "msg",
                                                                              "skmsg"):
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "message needs one enc with ciphertext")
        message_type = node.attrs.get("type", "text")
        if message_type not in MESSAGE_TYPES:
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "unknown message type")
        await self.check_reachable(sender, recipient)
        attrs = {"id": stanza_id, "from": sender, "type": message_type,
                 "t": str(int(self.gw.clock.now()))}
        username = await self.username_of(sender)
        if username:
            # Protocol §7.1: the sender's user-visible name, so a new contact can be named.
            attrs["notify"] = username
        delivered = Node("message", attrs, [enc])
        await self.store_and_deliver(recipient, delivered, ack_class="message",
                                     stanza_id=stanza_id, peer=sender)
        await self.gw.contacts.add_pair(sender, recipient)

    async def handle_receipt(self, sender: str, node: Node) -> Node:
        stanza_id = require_id(node)
        receipt_type = node.attrs.get("type", "")
        retry = node.child("retry")
        retry_count = retry.attrs.get("count", "") if retry is not None else ""
        dedupe_key = f"receipt\n{stanza_id}\n{receipt_type}\n{retry_count}"
        return await self._once(sender, dedupe_key, "receipt", stanza_id, receipt_type,
                                lambda: self._route_receipt(sender, node, stanza_id,
                                                            receipt_type))

    async def _route_receipt(self, sender: str, node: Node, stanza_id: str,
                             receipt_type: str) -> None:
        if receipt_type not in RECEIPT_TYPES:
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "unknown receipt type")
        recipient = node.attrs.get("to", "")
        await self.check_reachable(sender, recipient)
        attrs = {"id": stanza_id, "from": sender, "t": str(int(self.gw.clock.now()))}
        if receipt_type:
            attrs["type"] = receipt_type
        await self.store_and_deliver(recipient, Node("receipt", attrs, node.content),
                                     ack_class="receipt", stanza_id=stanza_id, peer=sender,
                                     stanza_type=receipt_type)

    async def _once(self, sender: str, dedupe_key: str, ack_class: str, stanza_id: str,
                    stanza_type: str, route) -> Node:
        """Route a send once; a duplicate gets the first outcome again (protocol §9 rule 4)."""
        ledger = self.gw.sends
        previous = await ledger.outcome(sender, dedupe_key)
        now = int(self.gw.clock.now())
        if previous is not None:
            error = json.loads(previous)
            info = ErrorInfo(error["code"], error.get("text", "")) if error else None
            return send_ack(ack_class, stanza_id, now, stanza_type=stanza_type, error=info)
        # Storing for the recipient and recording the send commit together: a gateway stopped
        # between the two would otherwise store the client's resend a second time.
        to_wake: list[str] = []
        token = _wake_after_commit.set(to_wake)
        try:
            async with self.gw.db.acquire() as conn, conn.transaction():
                try:
                    await route()
                except StanzaRejected as rejected:
                    if rejected.info.code not in NOT_FINAL:
                        await ledger.record(sender, dedupe_key, json.dumps(
                            {"code": int(rejected.info.code), "text": rejected.info.text}),
                            millis(self.gw.clock))
                    error: ErrorInfo | None = rejected.info
                else:
                    await ledger.record(sender, dedupe_key, "null", millis(self.gw.clock))
                    error = None
        finally:
            _wake_after_commit.reset(token)
        for recipient in to_wake:
            await self._wake_or_push(recipient)
        return send_ack(ack_class, stanza_id, now, stanza_type=stanza_type, error=error)

    async def handle_ack(self, recipient: str, node: Node) -> None:
        ack_class = node.attrs.get("class", "")
        if ack_class not in ACK_CLASSES or "id" not in node.attrs:
            return
        removed = await self.gw.mailbox.ack(recipient, ack_class, node.attrs["id"],
                                            node.attrs.get("to", ""), node.attrs.get("type", ""))
        if not removed:
            log.getChild(recipient).debug("Ack for nothing in the mailbox (%s)", ack_class)

    async def handle_chatstate(self, sender: str, node: Node) -> None:
        """Relayed live to a connected partner user (or shown to a simulated gatekeeper user);
        never stored in the mailbox (best effort)."""
        recipient = node.attrs.get("to", "")
        state = next((c for c in node.children if c.tag in CHAT_STATES), None)
        conn = self.connections.get(recipient)
        simulated = self.gw.simulated.is_simulated(recipient)
        if state is None or (conn is None and not simulated):
            return
        try:
            await self.check_reachable(sender, recipient)
        except StanzaRejected:
            return
        if conn is not None:
            await conn.send_live(Node("chatstate", {"from": sender}, [Node(state.tag)]))
        else:
            # A simulated gatekeeper user "sees" it: its inbox lists recent chat states.
            self.gw.simulated.saw_chat_state(recipient, sender, state.tag)

    async def handle(self, sender: str, node: Node) -> Node | None:
        """Dispatch one stanza from a client; returns the reply (if any)."""
        try:
            if node.tag == "message":
                return await self.handle_message(sender, node)
            if node.tag == "receipt":
                return await self.handle_receipt(sender, node)
            if node.tag == "ack":
                await self.handle_ack(sender, node)
                return None
            if node.tag == "chatstate":
                await self.handle_chatstate(sender, node)
                return None
            if node.tag == "iq":
                return await handle_iq(self, sender, node)
        except StanzaRejected as rejected:
            # A message/receipt without a usable id: answer with an id-less error ack.
            return Node("ack", {"class": node.tag, "id": node.attrs.get("id", "")},
                        [error_node(rejected.info)])
        log.getChild(sender).debug("Ignoring unknown stanza <%s>", node.tag)
        return None

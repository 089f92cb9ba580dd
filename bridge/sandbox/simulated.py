"""Simulated gatekeeper users: real Signal-protocol clients living inside the sandbox.

Each one has its own identity, prekeys and sessions (the project's Signal layer,
``bridge.signal.SignalParty``), publishes its keys to the sandbox's key server and talks to
partner users through the same router as everyone else. It is a pure Signal pipe: what it sends
is the caller's plaintext exactly (for example ``bridge.content.encode_content(...)``, which is
already padded; ``pad=True`` adds the framework's padding for callers with raw bytes), and what it
receives is decrypted, kept in an inbox as the exact plaintext (feed it to
``bridge.content.decode_content``), and acknowledged.

Their Signal state is kept in memory (``MemorySignalStore``): a restarted sandbox forgets the
sessions, and the simulated users start new ones (what a reinstalled phone would do).
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.gateway.codec import Node
from bridge.signal import prekeys
from bridge.signal.agreement import PeerBundle
from bridge.signal.errors import SignalError
from bridge.signal.party import SignalParty
from bridge.signal.store import MemorySignalStore
from bridge.signal.types import PeerId, UserId

from . import stored_stanza
from .chat.stanzas import StanzaRejected
from .clock import millis
from .storage.partners import OneTimePrekey, SignedPrekey

if TYPE_CHECKING:
    from .server import SandboxGateway

log = logging.getLogger("bridge.sandbox.simulated")


def pad(plaintext: bytes) -> bytes:
    """Content padding of the framework: 1–15 bytes, each equal to the pad length."""
    length = secrets.randbelow(15) + 1
    return plaintext + bytes([length]) * length


@dataclass
class InboxEntry:
    stanza_class: str
    stanza_id: str
    sender: str
    stanza_type: str
    t: str
    plaintext: bytes | None = None
    error: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.stanza_class, "id": self.stanza_id,
                               "from": self.sender, "type": self.stanza_type, "t": self.t,
                               "attrs": self.attrs}
        if self.plaintext is not None:
            out["plaintext"] = base64.b64encode(self.plaintext).decode()
        if self.error is not None:
            out["error"] = self.error
        return out


class SimulatedUsers:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway
        self.store = MemorySignalStore()
        self.parties: dict[str, SignalParty] = {}
        self.inboxes: dict[str, list[InboxEntry]] = {}
        # Highest one-time prekey id published per user: a refill publishes only newer ones, so
        # no prekey is ever handed out twice.
        self._published_up_to: dict[str, int] = {}

    def party(self, address: str) -> SignalParty | None:
        return self.parties.get(address)

    async def enable(self, address: str) -> dict[str, Any]:
        """Give the gatekeeper user at ``address`` a Signal identity and publish its keys."""
        party = self.parties.get(address)
        if party is None:
            party = SignalParty(self.store, UserId(address), accept_identity_changes=True)
            await party.ensure_identity(None)
            self.parties[address] = party
            self.inboxes[address] = []
        bundle = await party.bundle(None)
        partners = self.gw.partners
        previous = await partners.identity_key(address)
        await partners.set_gatekeeper_keys(
            address, bundle.registration_id, bundle.identity_key,
            SignedPrekey(bundle.signed_pre_key_id, bundle.signed_pre_key,
                         bundle.signed_pre_key_signature))
        if previous is not None and previous != bundle.identity_key:
            await partners.clear_one_time_prekeys(address)
            await self.gw.router.identity_changed(address, bundle.identity_key)
        first_time = address not in self._published_up_to
        published = await self._publish_new_prekeys(address, bundle.pre_keys,
                                                    replace_all=first_time)
        return {"address": address, "one_time_prekeys": published}

    async def _publish_new_prekeys(self, address: str, pre_keys: list[tuple[int, bytes]], *,
                                   replace_all: bool = False) -> int:
        floor = -1 if replace_all else self._published_up_to.get(address, -1)
        new = [OneTimePrekey(i, k) for i, k in pre_keys if i > floor]
        await self.gw.partners.add_one_time_prekeys(address, new)
        if pre_keys:
            self._published_up_to[address] = max(i for i, _ in pre_keys)
        return len(new)

    async def refill_if_low(self, address: str) -> None:
        """Called after someone fetched this user's bundle: top the server's pool up, as a
        client does when told its prekeys run low.

        The party cannot see which of its prekeys the server handed out (it learns only when
        one is used), so the new keys are generated here and saved through the store's own
        protocol, then only those are published.
        """
        if address not in self.parties:
            return
        on_server = await self.gw.partners.count_one_time_prekeys(address)
        if on_server >= self.gw.config.low_prekey_threshold:
            return
        user = UserId(address)
        loaded = await self.store.load_identity(None, user)
        if loaded is None:
            return
        _, counters = loaded
        fresh = prekeys.generate_pre_keys(counters.next_pre_key_id,
                                          prekeys.PRE_KEY_POOL_SIZE - on_server)
        await self.store.save_pre_keys(None, user, fresh)
        counters.next_pre_key_id = prekeys.next_key_id(fresh[-1].key_id)
        await self.store.save_counters(None, user, counters)
        await self._publish_new_prekeys(address, [(k.key_id, k.key_pair.public) for k in fresh])

    async def _ensure_session(self, party: SignalParty, sender: str, recipient: str) -> None:
        if await party.has_session(None, PeerId(recipient)):
            return
        bundle = await self.gw.partners.take_bundle(sender, recipient, millis(self.gw.clock))
        if bundle is None:
            raise LookupError("recipient has no keys")
        otk = bundle.one_time_prekey
        await party.process_bundle(None, PeerId(recipient), PeerBundle(
            bundle.registration_id, 1, bundle.identity_key, bundle.signed_prekey.key_id,
            bundle.signed_prekey.public_key, bundle.signed_prekey.signature,
            otk.key_id if otk else None, otk.public_key if otk else None))

    async def send(self, address: str, recipient: str, plaintext: bytes, *,
                   message_type: str = "text", stanza_id: str | None = None,
                   add_padding: bool = False) -> Node | None:
        """Encrypt and route a message; returns the gateway's ack (errors included)."""
        party = self.parties[address]
        stanza_id = stanza_id or secrets.token_hex(8).upper()
        try:
            await self.gw.router.check_reachable(address, recipient)
        except StanzaRejected:
            # Nothing to encrypt for: let the router refuse it, so the answer is its ack.
            kind, body = "msg", b""
        else:
            await self._ensure_session(party, address, recipient)
            kind, body = await party.encrypt(None, PeerId(recipient),
                                             pad(plaintext) if add_padding else plaintext)
        node = Node("message", {"id": stanza_id, "to": recipient, "type": message_type},
                    [Node("enc", {"v": "2", "type": kind}, body)])
        return await self.gw.router.handle(address, node)

    async def sync_inbox(self, address: str) -> list[InboxEntry]:
        """Decrypt and acknowledge everything waiting for this user; return the whole inbox."""
        party = self.parties[address]
        inbox = self.inboxes[address]
        mailbox = self.gw.mailbox
        # Protocol §9 rule 2: a client recognises a stanza it already stored by (sender, id) and
        # only acks it again (the same ciphertext cannot be decrypted twice).
        stored = {(e.stanza_class, e.sender, e.stanza_id, e.stanza_type) for e in inbox
                  if e.error is None}
        for entry in await mailbox.pending(address, not_before_ms=self.gw.retention_cutoff_ms()):
            key = (entry.ack_class, entry.peer, entry.stanza_id, entry.stanza_type)
            if key in stored:
                await mailbox.ack(address, entry.ack_class, entry.stanza_id, entry.peer,
                                  entry.stanza_type)
                continue
            node = stored_stanza.loads(entry.stanza)
            item = InboxEntry(entry.ack_class, entry.stanza_id, entry.peer, entry.stanza_type,
                              node.attrs.get("t", ""),
                              attrs={k: v for k, v in node.attrs.items()
                                     if k not in ("id", "from", "t")})
            enc = node.child("enc") if node.tag == "message" else None
            if enc is not None and enc.data is not None:
                try:
                    decrypted = await party.decrypt(None, PeerId(entry.peer),
                                                    enc.attrs.get("type", ""), enc.data)
                    item.plaintext = decrypted.plaintext
                except SignalError as e:
                    # Undecryptable: ask for a resend, as a real client would.
                    item.error = type(e).__name__
                    await self._send_retry(address, entry.peer, entry.stanza_id, node)
            inbox.append(item)
            await mailbox.ack(address, entry.ack_class, entry.stanza_id, entry.peer,
                              entry.stanza_type)
        return inbox

    async def _send_retry(self, address: str, peer: str, stanza_id: str, node: Node) -> None:
        bundle = await self.parties[address].bundle(None)
        retry = Node("receipt", {"id": stanza_id, "to": peer, "type": "retry"}, [
            Node("retry", {"count": "1", "id": stanza_id, "t": node.attrs.get("t", ""),
                           "v": "1"}),
            Node("registration", {}, bundle.registration_id.to_bytes(4, "big"))])
        await self.gw.router.handle(address, retry)

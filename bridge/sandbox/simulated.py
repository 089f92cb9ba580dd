"""Simulated gatekeeper users: real Signal-protocol clients living inside the sandbox.

Each one has its own identity, prekeys and sessions (the project's Signal layer,
``bridge.signal.SignalParty``), publishes its keys to the sandbox's key server and talks to
partner users through the same router as everyone else. What it sends is the caller's plaintext
(normally content built by ``bridge.sandbox.simulated_content`` and encoded with
``bridge.content.encode_content``); what it receives is decrypted, decoded and kept in its inbox.

Its Signal state lives in the sandbox's database (``SqlSignalStores``: the bridge's own store,
every secret sealed under a per-user data key wrapped by the sandbox's master key), so sessions
survive a sandbox restart and partners see no spurious identity change. A decryption and the
inbox entry it produces commit in one transaction, and only then is the mailbox entry acked
(protocol §9 rule 2); a redelivered message that is already in the inbox is only acked again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bridge.content import decode_payload
from bridge.content.models import Audio, Document, Image, Sticker, Video
from bridge.gateway.codec import Node
from bridge.gateway.ids import Address
from bridge.media import MediaCryptoError, decrypt_media
from bridge.signal import prekeys
from bridge.signal.agreement import PeerBundle
from bridge.signal.errors import SignalError
from bridge.signal.party import SignalParty
from bridge.signal.store import SqlSignalStores
from bridge.signal.types import UserId
from bridge.trust import MasterKey, Vault

from . import stored_stanza
from .chat.stanzas import StanzaRejected
from .clock import millis
from .simulated_content import content_to_json
from .storage.partners import OneTimePrekey, SignedPrekey
from .storage.simulated import SimulatedUserStore

if TYPE_CHECKING:
    from .server import SandboxGateway

log = logging.getLogger("bridge.sandbox.simulated")

#: Where the master key is kept when the sandbox has no key file configured (tests, demos).
MASTER_KEY_STATE = "simulated_users_master_key"
MEDIA_TYPES = (Image, Video, Audio, Document, Sticker)
#: Chat states are ephemeral: only the most recent ones per user are kept (in memory).
CHAT_STATES_KEPT = 100


def pad(plaintext: bytes) -> bytes:
    """Content padding of the framework: 1–15 bytes, each equal to the pad length."""
    length = secrets.randbelow(15) + 1
    return plaintext + bytes([length]) * length


@dataclass(frozen=True)
class SendOutcome:
    stanza_id: str
    #: The gateway's ack (with an ``error`` child when refused).
    reply: Node | None


async def load_master_key(gateway: SandboxGateway) -> MasterKey:
    path = gateway.config.simulated_users_key_file
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return MasterKey.load_or_create(path)
    stored = await gateway.state.get(MASTER_KEY_STATE)
    if stored:
        return MasterKey.from_text(stored)
    key = MasterKey.generate()
    await gateway.state.put(MASTER_KEY_STATE, key.to_text())
    return key


class SimulatedUsers:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway
        self._simulated: set[str] = set()
        # One operation at a time per user: sessions are read, advanced and written back.
        self._locks: dict[str, asyncio.Lock] = {}
        self.chat_states: dict[str, list[dict[str, Any]]] = {}

    async def start(self) -> None:
        self.vault = Vault(await load_master_key(self.gw))
        self.signal_store = SqlSignalStores(self.vault)
        self.records = SimulatedUserStore(self.vault)
        self._simulated = set(await self.records.addresses(self.gw.db))
        if self._simulated:
            log.info("%d simulated users restored", len(self._simulated))

    def is_simulated(self, address: str) -> bool:
        return address in self._simulated

    def party(self, address: str) -> SignalParty:
        return SignalParty(self.signal_store.for_user(UserId(address)),
                           accept_identity_changes=True)

    def _lock(self, address: str) -> asyncio.Lock:
        return self._locks.setdefault(address, asyncio.Lock())

    # --- keys ------------------------------------------------------------------------------

    async def enable(self, address: str) -> dict[str, Any]:
        """Give the gatekeeper user at ``address`` a Signal identity (once) and publish its keys.

        Calling it again (also after a restart) republishes the same identity and publishes
        no prekey twice.
        """
        party = self.party(address)
        async with self._lock(address), self.gw.db.acquire() as conn, conn.transaction():
            await party.ensure_identity(conn)
            bundle = await party.bundle(conn)
            floor = await self.records.published_up_to(conn, address)
            top = max((i for i, _ in bundle.pre_keys), default=floor or 0)
            await self.records.set_published_up_to(conn, address, max(top, floor or 0),
                                                   millis(self.gw.clock))
        partners = self.gw.partners
        previous = await partners.identity_key(address)
        await partners.set_gatekeeper_keys(
            address, bundle.registration_id, bundle.identity_key,
            SignedPrekey(bundle.signed_pre_key_id, bundle.signed_pre_key,
                         bundle.signed_pre_key_signature))
        if previous is not None and previous != bundle.identity_key:
            await partners.clear_one_time_prekeys(address)
            await self.gw.router.identity_changed(address, bundle.identity_key)
        new = [OneTimePrekey(i, k) for i, k in bundle.pre_keys if floor is None or i > floor]
        await partners.add_one_time_prekeys(address, new)
        self._simulated.add(address)
        return {"address": address, "one_time_prekeys": len(new)}

    async def reset_identity(self, address: str) -> dict[str, Any]:
        """What a reinstall does: a new identity, new prekeys, no sessions. Everyone who had
        fetched the old identity is told (``identity-change``); the inbox is kept."""
        async with self._lock(address), self.gw.db.acquire() as conn, conn.transaction():
            await self.signal_store.forget_keys(conn, UserId(address))
            await conn.execute("DELETE FROM simulated_user WHERE address=$1", address)
        return await self.enable(address)

    async def refill_if_low(self, address: str) -> None:
        """Called after someone fetched this user's bundle: top the server's pool up, as a
        client does when told its prekeys run low.

        The party cannot see which of its prekeys the server handed out (it learns only when
        one is used), so the new keys are generated here and saved through the store's own
        protocol, then only those are published.
        """
        if address not in self._simulated:
            return
        on_server = await self.gw.partners.count_one_time_prekeys(address)
        if on_server >= self.gw.config.low_prekey_threshold:
            return
        store = self.signal_store.for_user(UserId(address))
        async with self._lock(address), self.gw.db.acquire() as conn, conn.transaction():
            loaded = await store.load_identity(conn)
            if loaded is None:
                return
            _, counters = loaded
            fresh = prekeys.generate_pre_keys(counters.next_pre_key_id,
                                              prekeys.PRE_KEY_POOL_SIZE - on_server)
            await store.save_pre_keys(conn, fresh)
            counters.next_pre_key_id = prekeys.next_key_id(fresh[-1].key_id)
            await store.save_counters(conn, counters)
            await self.records.set_published_up_to(conn, address, fresh[-1].key_id,
                                                   millis(self.gw.clock))
        await self.gw.partners.add_one_time_prekeys(
            address, [OneTimePrekey(k.key_id, k.key_pair.public) for k in fresh])

    # --- sending ---------------------------------------------------------------------------

    async def _peer_bundle(self, party: SignalParty, sender: str, recipient: str
                           ) -> PeerBundle | None:
        """The recipient's bundle from the key server when there is no session yet, or when
        the key server holds another identity than the session's (the recipient enlisted
        again, e.g. after a reinstall): a real client would have heard ``identity-change``."""
        async with self.gw.db.acquire() as conn:
            has_session = await party.has_session(conn, Address(recipient))
            trusted = await party.trusted_identity(conn, Address(recipient))
        if has_session and trusted == await self.gw.partners.identity_key(recipient):
            return None
        bundle = await self.gw.partners.take_bundle(sender, recipient, millis(self.gw.clock))
        if bundle is None:
            raise LookupError("recipient has no keys")
        otk = bundle.one_time_prekey
        return PeerBundle(
            bundle.registration_id, 1, bundle.identity_key, bundle.signed_prekey.key_id,
            bundle.signed_prekey.public_key, bundle.signed_prekey.signature,
            otk.key_id if otk else None, otk.public_key if otk else None)

    async def send(self, address: str, recipient: str, plaintext: bytes, *,
                   message_type: str = "text", stanza_id: str | None = None,
                   add_padding: bool = False) -> SendOutcome:
        """Encrypt and route a message; the outcome carries the gateway's ack (errors too)."""
        party = self.party(address)
        stanza_id = stanza_id or secrets.token_hex(8).upper()
        async with self._lock(address):
            try:
                await self.gw.router.check_reachable(address, recipient)
            except StanzaRejected:
                # Nothing to encrypt for: let the router refuse it, so the answer is its ack.
                kind, body = "msg", b""
            else:
                peer_bundle = await self._peer_bundle(party, address, recipient)
                async with self.gw.db.acquire() as conn, conn.transaction():
                    if peer_bundle is not None:
                        await party.process_bundle(conn, Address(recipient), peer_bundle)
                    kind, body = await party.encrypt(conn, Address(recipient),
                                                     pad(plaintext) if add_padding else plaintext)
            node = Node("message", {"id": stanza_id, "to": recipient, "type": message_type},
                        [Node("enc", {"v": "2", "type": kind}, body)])
            reply = await self.gw.router.handle(address, node)
        return SendOutcome(stanza_id, reply)

    # --- receiving -------------------------------------------------------------------------

    def saw_chat_state(self, address: str, sender: str, state: str) -> None:
        seen = self.chat_states.setdefault(address, [])
        seen.append({"from": sender, "state": state, "t": int(self.gw.clock.now())})
        del seen[:-CHAT_STATES_KEPT]

    async def sync_inbox(self, address: str) -> list[dict[str, Any]]:
        """Decrypt, decode and acknowledge everything waiting for this user; return the whole
        inbox (oldest first)."""
        mailbox = self.gw.mailbox
        async with self._lock(address):
            for entry in await mailbox.pending(address,
                                               not_before_ms=self.gw.retention_cutoff_ms()):
                node = stored_stanza.loads(entry.stanza)
                item: dict[str, Any] = {
                    "class": entry.ack_class, "id": entry.stanza_id, "from": entry.peer,
                    "type": entry.stanza_type, "t": node.attrs.get("t", ""),
                    "attrs": {k: v for k, v in node.attrs.items() if k not in ("id", "from", "t")},
                }
                if "notify" in node.attrs:
                    item["from_username"] = node.attrs["notify"]
                enc = node.child("enc") if node.tag == "message" else None
                if enc is not None and enc.data is not None:
                    await self._receive_message(address, item, node, enc)
                else:
                    if node.tag == "receipt":
                        item["receipt"] = _receipt_json(node)
                    async with self.gw.db.acquire() as conn:
                        await self.records.save_entry(conn, address, item, millis(self.gw.clock))
                await mailbox.ack(address, entry.ack_class, entry.stanza_id, entry.peer,
                                  entry.stanza_type)
            return await self.records.entries(self.gw.db, address)

    async def _receive_message(self, address: str, item: dict[str, Any], node: Node,
                               enc: Node) -> None:
        peer = Address(item["from"])
        key = (address, item["class"], item["from"], item["id"], item["type"])
        async with self.gw.db.acquire() as conn:
            earlier = await self.records.find_entry(conn, *key)
        if earlier is not None and "error" not in earlier:
            return  # a redelivery of something already stored: only ack it again
        model = None
        try:
            async with self.gw.db.acquire() as conn, conn.transaction():
                decrypted = await self.party(address).decrypt(conn, peer,
                                                              enc.attrs.get("type", ""), enc.data)
                item["plaintext"] = base64.b64encode(decrypted.plaintext).decode()
                if decrypted.identity_change is not None:
                    item["identity_changed"] = True
                model, item["content"] = _decode(decrypted.plaintext)
                await self.records.save_entry(conn, address, item, millis(self.gw.clock))
        except SignalError as e:
            # Undecryptable (nothing was committed): ask for a resend, as a real client would.
            item["error"] = type(e).__name__
            async with self.gw.db.acquire() as conn:
                await self.records.save_entry(conn, address, item, millis(self.gw.clock))
            await self._send_retry(address, item["from"], item["id"], node)
            return
        if isinstance(model, MEDIA_TYPES):
            item["download"] = await self._download_media(model)
            async with self.gw.db.acquire() as conn:
                await self.records.save_entry(conn, address, item, millis(self.gw.clock))

    async def _download_media(self, model: Any) -> dict[str, Any]:
        """Fetch the blob the way a gatekeeper client would (partner-hosted media through the
        gateway's media proxy), then verify and decrypt it; report the file's hash and size."""
        media = model.media
        url = media.path if "://" in media.path else self.gw.config.base_url + media.path
        try:
            async with self.gw.http.get(url, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                if resp.status != 200:
                    return {"error": f"HTTP {resp.status}"}
                blob = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as e:
            return {"error": type(e).__name__}
        try:
            data = decrypt_media(model.kind, blob, media.media_key, media.sha256_enc,
                                 media.sha256_plain)
        except MediaCryptoError as e:
            return {"error": type(e).__name__}
        return {"verified": True, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    async def _send_retry(self, address: str, peer: str, stanza_id: str, node: Node) -> None:
        async with self.gw.db.acquire() as conn:
            bundle = await self.party(address).bundle(conn)
        retry = Node("receipt", {"id": stanza_id, "to": peer, "type": "retry"}, [
            Node("retry", {"count": "1", "id": stanza_id, "t": node.attrs.get("t", ""),
                           "v": "1"}),
            Node("registration", {}, bundle.registration_id.to_bytes(4, "big"))])
        await self.gw.router.handle(address, retry)


def _decode(plaintext: bytes) -> tuple[Any, dict[str, Any]]:
    try:
        payload = decode_payload(plaintext)
    except ValueError as e:
        # ContentError, or a field a model refuses: shown, never allowed to stall the inbox.
        return None, {"kind": "undecodable", "error": type(e).__name__}
    model = payload.content if payload.content is not None else payload.sender_key_distribution
    return model, content_to_json(model)


def _receipt_json(node: Node) -> dict[str, Any]:
    ids = [node.attrs.get("id", "")]
    listed = node.child("list")
    if listed is not None:
        ids += [item.attrs.get("id", "") for item in listed.children]
    return {"type": node.attrs.get("type") or "delivery", "ids": ids}

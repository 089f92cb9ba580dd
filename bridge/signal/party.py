"""One bridged user's Signal endpoint: their keys, their sessions, encrypt and decrypt.

A thin shell: the protocol lives in :mod:`.session`, :mod:`.agreement` and :mod:`.prekeys`; this
class loads what an operation needs from the store, runs it and saves the result, all on the
caller's connection (and so inside the caller's transaction). It keeps no state of its own between
calls, which is what makes a rolled-back transaction leave no trace.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..gateway.ids import Address
from . import agreement, prekeys
from .agreement import PeerBundle
from .errors import (
    IdentityChange,
    MissingPreKeyError,
    NoSessionError,
    UntrustedIdentityError,
)
from .keys import KeyPair, generate_registration_id
from .prekeys import LocalIdentity, PreKey, SignedPreKey
from .session import MSG, PKMSG, PendingPreKey, Session, SessionRecord
from .store import KeyCounters, SignalStore
from .types import RegistrationId
from .wire import InvalidMessageError, PreKeySignalMessage

log = logging.getLogger("bridge.signal")


def logger_name(user_id: str) -> str:
    """A logger name part for a user id (dots would make logging treat it as a hierarchy)."""
    return user_id.replace(".", "_")


def fingerprint(identity_key: bytes) -> str:
    """A short public fingerprint of an identity key, fit for logs and security notices."""
    return hashlib.sha256(identity_key).hexdigest()[:16]


def safety_code(identity_key: bytes) -> str:
    """Thirty digits in groups of five that stand for one identity key, for people to compare
    (read out, or side by side with what the contact's app shows), like a safety number's half:
    five bytes of a SHA-512 digest per group, each taken modulo 100000."""
    digest = hashlib.sha512(b"interop-bridge safety code\x00" + identity_key).digest()
    return " ".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100_000:05d}"
                    for i in range(0, 30, 5))


@dataclass(frozen=True, slots=True)
class PublishedBundle:
    """What we upload: identity, current signed prekey and the unused one-time prekeys."""

    registration_id: int
    device_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key: bytes
    signed_pre_key_signature: bytes
    pre_keys: list[tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: bytes
    #: set when the peer's identity changed and this party accepts changes with a notice
    identity_change: IdentityChange | None = None


class SignalParty:
    """The Signal endpoint of one user. ``accept_identity_changes`` chooses what a changed peer
    identity does: ``False`` refuses with :class:`UntrustedIdentityError` until
    :meth:`accept_identity` is called; ``True`` goes on and reports the change in the result."""

    def __init__(self, store: SignalStore, *, accept_identity_changes: bool = False) -> None:
        self.store = store
        self.user_id = store.user
        self.accept_identity_changes = accept_identity_changes
        self.log = log.getChild("party").getChild(logger_name(self.user_id))

    # -- our keys ---------------------------------------------------------------------------------

    async def ensure_identity(self, conn: Any, *, registration_id: int | None = None,
                              pre_key_count: int = prekeys.PRE_KEY_POOL_SIZE,
                              first_pre_key_id: int = 1, signed_pre_key_id: int = 1,
                              now: int | None = None) -> LocalIdentity:
        """Create the identity, first signed prekey and prekey pool, unless they exist."""
        existing = await self.store.load_identity(conn)
        if existing is not None:
            return existing[0]
        now = int(time.time()) if now is None else now
        identity = LocalIdentity(KeyPair.generate(), RegistrationId(
            registration_id if registration_id is not None else generate_registration_id()))
        signed = prekeys.generate_signed_pre_key(identity.identity, signed_pre_key_id, now)
        pool = prekeys.generate_pre_keys(first_pre_key_id, pre_key_count)
        next_pre = prekeys.next_key_id(pool[-1].key_id) if pool else first_pre_key_id
        await self.store.create_identity(conn, identity, KeyCounters(
            signed.key_id, prekeys.next_key_id(signed.key_id), next_pre))
        await self.store.save_signed_pre_key(conn, signed)
        await self.store.save_pre_keys(conn, pool)
        self.log.info("Created a Signal identity for %s (fingerprint %s, %d prekeys)",
                      self.user_id, fingerprint(identity.identity.public), len(pool))
        return identity

    async def _identity(self, conn: Any) -> tuple[LocalIdentity, KeyCounters]:
        loaded = await self.store.load_identity(conn)
        if loaded is None:
            raise NoSessionError(f"{self.user_id} has no Signal identity yet")
        return loaded

    async def bundle(self, conn: Any) -> PublishedBundle:
        identity, counters = await self._identity(conn)
        signed: dict[int, SignedPreKey] = {
            k.key_id: k for k in await self.store.load_signed_pre_keys(conn)}
        current = signed[counters.current_signed_pre_key_id]
        pool = await self.store.load_pre_keys(conn)
        return PublishedBundle(identity.registration_id, 1, identity.identity.public,
                               current.key_id, current.key_pair.public, current.signature,
                               [(k.key_id, k.key_pair.public) for k in pool])

    async def maintain_keys(self, conn: Any, now: int | None = None) -> bool:
        """Rotate the signed prekey when due, drop expired ones, refill the prekey pool.

        Returns True when the published bundle changed (the caller uploads it)."""
        now = int(time.time()) if now is None else now
        identity, counters = await self._identity(conn)
        changed = False
        signed = await self.store.load_signed_pre_keys(conn)
        current = next(k for k in signed if k.key_id == counters.current_signed_pre_key_id)
        if prekeys.signed_pre_key_due(current, now):
            new = prekeys.generate_signed_pre_key(identity.identity,
                                                  counters.next_signed_pre_key_id, now)
            await self.store.save_signed_pre_key(conn, new)
            signed.append(new)
            counters.current_signed_pre_key_id = new.key_id
            counters.next_signed_pre_key_id = prekeys.next_key_id(new.key_id)
            changed = True
            self.log.info("Rotated the signed prekey of %s to id %d", self.user_id, new.key_id)
        for key_id in prekeys.expired_signed_pre_keys(signed, counters.current_signed_pre_key_id,
                                                      now):
            await self.store.delete_signed_pre_key(conn, key_id)
        unused = len(await self.store.load_pre_keys(conn))
        to_add = prekeys.pre_keys_to_add(unused)
        if to_add:
            new_keys = prekeys.generate_pre_keys(counters.next_pre_key_id, to_add)
            await self.store.save_pre_keys(conn, new_keys)
            counters.next_pre_key_id = prekeys.next_key_id(new_keys[-1].key_id)
            changed = True
            self.log.info("Refilled %d one-time prekeys of %s", to_add, self.user_id)
        await self.store.save_counters(conn, counters)
        return changed

    # -- peer identities --------------------------------------------------------------------------

    async def _check_identity(self, conn: Any, peer: Address, key: bytes) -> IdentityChange | None:
        trusted = await self.store.load_peer_identity(conn, peer)
        if trusted == key:
            return None
        if trusted is None:  # first contact: trust on first use
            await self.store.save_peer_identity(conn, peer, key)
            return None
        change = IdentityChange(peer, fingerprint(trusted), fingerprint(key),
                                previous_identity_key=trusted, new_identity_key=key)
        self.log.warning("Identity of %s changed for %s: %s -> %s", peer, self.user_id,
                         change.previous_fingerprint, change.new_fingerprint)
        if not self.accept_identity_changes:
            raise UntrustedIdentityError(change)
        await self.store.save_peer_identity(conn, peer, key)
        return change

    async def accept_identity(self, conn: Any, peer: Address, identity_key: bytes) -> None:
        """Trust ``identity_key`` for ``peer`` from now on (after the user was told)."""
        await self.store.save_peer_identity(conn, peer, identity_key)

    async def trusted_identity(self, conn: Any, peer: Address) -> bytes | None:
        return await self.store.load_peer_identity(conn, peer)

    # -- sessions ---------------------------------------------------------------------------------

    async def has_session(self, conn: Any, peer: Address) -> bool:
        record = await self.store.load_session(conn, peer)
        return record is not None and record.current is not None

    async def has_trusted_session(self, conn: Any, peer: Address) -> bool:
        """A current session whose peer identity is the one we trust now: after a confirmed
        identity change the old session is not, and a new one must be started."""
        record = await self.store.load_session(conn, peer)
        if record is None or record.current is None:
            return False
        trusted = await self.store.load_peer_identity(conn, peer)
        return trusted is None or record.current.their_identity == trusted

    async def process_bundle(self, conn: Any, peer: Address,
                             bundle: PeerBundle) -> IdentityChange | None:
        """Start a new session with ``peer`` from their bundle (X3DH, initiator side)."""
        change = await self._check_identity(conn, peer, bundle.identity_key)
        identity, _ = await self._identity(conn)
        root_key, base = agreement.initiate(identity.identity, bundle)
        session = Session(
            our_identity=identity.identity.public, their_identity=bundle.identity_key,
            our_registration_id=identity.registration_id,
            their_registration_id=bundle.registration_id, base_key=base.public,
            pending_start=(root_key, bundle.signed_pre_key),
            pending_pre_key=PendingPreKey(bundle.pre_key_id, bundle.signed_pre_key_id,
                                          base.public))
        record = await self.store.load_session(conn, peer) or SessionRecord()
        record.promote(session)
        await self.store.save_session(conn, peer, record)
        self.log.debug("Started a session of %s with %s", self.user_id, peer)
        return change

    async def encrypt(self, conn: Any, peer: Address, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt for ``peer``: (``"pkmsg"`` | ``"msg"``, wire bytes). The session update is
        written on ``conn``; commit it before the ciphertext leaves."""
        record = await self.store.load_session(conn, peer)
        if record is None or record.current is None:
            raise NoSessionError(f"no session with {peer}")
        kind, body = await record.current.encrypt(plaintext)
        await self.store.save_session(conn, peer, record)
        return kind, body

    async def decrypt(self, conn: Any, peer: Address, kind: str, body: bytes) -> Decrypted:
        """Decrypt a ``"pkmsg"`` or ``"msg"`` from ``peer``. On failure nothing is written."""
        if kind == PKMSG:
            return await self._decrypt_prekey_message(conn, peer, body)
        if kind != MSG:
            raise InvalidMessageError(f"unknown message type {kind!r}")
        return await self._decrypt_message(conn, peer, body)

    async def _decrypt_message(self, conn: Any, peer: Address, body: bytes) -> Decrypted:
        record = await self.store.load_session(conn, peer)
        if record is None or record.current is None:
            raise NoSessionError(f"no session with {peer}")
        plaintext = await record.decrypt(body)
        await self.store.save_session(conn, peer, record)
        return Decrypted(plaintext)

    async def _decrypt_prekey_message(self, conn: Any, peer: Address, body: bytes) -> Decrypted:
        message = PreKeySignalMessage.parse(body)
        change = await self._check_identity(conn, peer, message.identity_key)
        record = await self.store.load_session(conn, peer) or SessionRecord()
        existing = record.find_by_base_key(message.base_key)
        if existing is not None:
            # The peer has not seen our reply yet and keeps wrapping its messages.
            plaintext = await existing.decrypt(message.message)
            await self.store.save_session(conn, peer, record)
            return Decrypted(plaintext, change)
        identity, _counters = await self._identity(conn)
        signed = next((k for k in await self.store.load_signed_pre_keys(conn)
                       if k.key_id == message.signed_pre_key_id), None)
        if signed is None:
            raise MissingPreKeyError(f"signed prekey {message.signed_pre_key_id} is gone")
        one_time: PreKey | None = None
        if message.pre_key_id is not None:
            one_time = await self.store.load_pre_key(conn, message.pre_key_id)
            if one_time is None:
                raise MissingPreKeyError(f"one-time prekey {message.pre_key_id} is used or gone")
        root_key = agreement.respond(identity.identity, signed.key_pair,
                                     one_time.key_pair if one_time else None,
                                     message.identity_key, message.base_key)
        session, plaintext = await Session.from_first_message(
            our_identity=identity.identity.public, our_registration_id=identity.registration_id,
            prekey_message=message, root_key=root_key,
            our_signed_pre_key_private=signed.key_pair.private)
        record.promote(session)
        await self.store.save_session(conn, peer, record)
        if one_time is not None:
            await self.store.delete_pre_key(conn, one_time.key_id)
        self.log.debug("Accepted a session of %s from %s", self.user_id, peer)
        return Decrypted(plaintext, change)


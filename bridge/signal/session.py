"""One Signal session with a peer, and a peer's record of sessions. Sans-I/O.

A session is created either from the peer's bundle (we initiate: the ratchet itself starts with our
first message, so until then the session holds the X3DH root key) or from a PreKeySignalMessage
(the peer initiated). While we have not heard back from a session we initiated, every message we
send is wrapped in a PreKeySignalMessage so that the peer can set the session up from any of them.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from doubleratchet import (
    AuthenticationFailedException,
    DecryptionFailedException,
    DoSProtectionException,
    DuplicateMessageException,
    EncryptedMessage,
)
from doubleratchet.models import (
    DiffieHellmanRatchetModel,
    DoubleRatchetModel,
    KDFChainModel,
    SkippedMessageKeyModel,
    SymmetricKeyRatchetModel,
)

from .errors import DecryptionError, DuplicateMessageError, TamperedMessageError, TooFarAheadError
from .keys import encode_public_key
from .ratchet import (
    RATCHET_CONFIG,
    LibsignalDoubleRatchet,
    header_from_wire,
    parse_signal_message,
)
from .wire import InvalidMessageError, PreKeySignalMessage, SignalMessage

#: skipped message keys older than this are dropped (the gateway keeps mail for 30 days)
SKIPPED_KEY_MAX_AGE_SECONDS = 30 * 24 * 3600
#: how many superseded sessions per peer we keep for late messages
MAX_ARCHIVED_SESSIONS = 5
#: as many of the peer's ratchet keys as libsignal keeps receiving chains, and some
SEEN_RATCHET_KEYS_KEPT = 16

PKMSG = "pkmsg"
MSG = "msg"


@dataclass(slots=True)
class PendingPreKey:
    """What every outgoing message carries until the peer answers a session we initiated."""

    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes


@dataclass(slots=True)
class Session:
    our_identity: bytes
    their_identity: bytes
    our_registration_id: int
    their_registration_id: int
    #: identifies the session: our base key if we initiated, the peer's otherwise
    base_key: bytes
    ratchet: LibsignalDoubleRatchet | None = None
    #: (root key, peer's signed prekey) of a session we initiated but have not yet sent on
    pending_start: tuple[bytes, bytes] | None = None
    pending_pre_key: PendingPreKey | None = None
    #: when each skipped message key was first kept, for the age limit
    skipped_since: dict[tuple[bytes, int], int] = field(default_factory=dict)
    #: the peer's ratchet keys we have decrypted under, oldest first (bounded): a message under
    #: one of them that no longer decrypts is a replay (or its key expired), not a forgery
    seen_ratchet_keys: list[bytes] = field(default_factory=list)

    def _saw_ratchet_key(self, key: bytes) -> None:
        if self.seen_ratchet_keys and self.seen_ratchet_keys[-1] == key:
            return
        if key in self.seen_ratchet_keys:
            self.seen_ratchet_keys.remove(key)
        self.seen_ratchet_keys.append(key)
        del self.seen_ratchet_keys[:-SEEN_RATCHET_KEYS_KEPT]

    def _associated_data(self, sending: bool) -> bytes:
        ours, theirs = encode_public_key(self.our_identity), encode_public_key(self.their_identity)
        return ours + theirs if sending else theirs + ours

    async def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt one message: (``"pkmsg"`` or ``"msg"``, wire bytes)."""
        if self.ratchet is None:
            assert self.pending_start is not None
            root_key, their_signed_pre_key = self.pending_start
            self.ratchet, encrypted = await LibsignalDoubleRatchet.encrypt_initial_message(
                shared_secret=root_key, recipient_ratchet_pub=their_signed_pre_key,
                message=plaintext, associated_data=self._associated_data(True), **RATCHET_CONFIG)
            self.pending_start = None
        else:
            encrypted = await self.ratchet.encrypt_message(plaintext, self._associated_data(True))
        if self.pending_pre_key is None:
            return MSG, encrypted.ciphertext
        pending = self.pending_pre_key
        return PKMSG, PreKeySignalMessage(
            registration_id=self.our_registration_id, pre_key_id=pending.pre_key_id,
            signed_pre_key_id=pending.signed_pre_key_id, base_key=pending.base_key,
            identity_key=self.our_identity, message=encrypted.ciphertext).serialize()

    async def decrypt(self, data: bytes) -> bytes:
        """Decrypt a SignalMessage; on any failure the session is left exactly as it was."""
        if self.ratchet is None:  # we set it up but have not sent yet: nothing can be for it
            raise DecryptionError("session has no receiving chain yet")
        message = parse_signal_message(data)
        encrypted = EncryptedMessage(header=header_from_wire(message), ciphertext=data)
        try:
            with translate_ratchet_errors():
                plaintext = await self.ratchet.decrypt_message(encrypted,
                                                               self._associated_data(False))
        except TamperedMessageError:
            # The ratchet library keeps skipped keys, not earlier chains: a message of an
            # earlier chain whose key was used looks to it like a new chain that fails to open.
            if message.ratchet_key in self.seen_ratchet_keys:
                raise DuplicateMessageError("message of an earlier chain, its key already used "
                                            "or expired") from None
            raise
        self._saw_ratchet_key(message.ratchet_key)
        self.pending_pre_key = None  # the peer has the session: plain messages from now on
        return plaintext

    @classmethod
    async def from_first_message(cls, *, our_identity: bytes, our_registration_id: int,
                                 prekey_message: PreKeySignalMessage, root_key: bytes,
                                 our_signed_pre_key_private: bytes) -> tuple[Session, bytes]:
        """The responder's session, from the root key and the wrapped first message."""
        session = cls(our_identity=our_identity, their_identity=prekey_message.identity_key,
                      our_registration_id=our_registration_id,
                      their_registration_id=prekey_message.registration_id,
                      base_key=prekey_message.base_key)
        inner = SignalMessage.parse(prekey_message.message)
        encrypted = EncryptedMessage(header=header_from_wire(inner),
                                     ciphertext=prekey_message.message)
        with translate_ratchet_errors():
            session.ratchet, plaintext = await LibsignalDoubleRatchet.decrypt_initial_message(
                shared_secret=root_key, own_ratchet_priv=our_signed_pre_key_private,
                message=encrypted, associated_data=session._associated_data(False),
                **RATCHET_CONFIG)
        session._saw_ratchet_key(inner.ratchet_key)
        return session, plaintext

    # -- serialisation ----------------------------------------------------------------------------

    def to_dict(self, now: int | None = None) -> dict[str, Any]:
        now = int(time.time()) if now is None else now
        ratchet = None
        if self.ratchet is not None:
            state = ratchet_state(self.ratchet)
            kept, since = _prune_skipped(state[6], self.skipped_since, now)
            if len(kept) != len(state[6]):
                state = (*state[:6], kept)
                self.ratchet = LibsignalDoubleRatchet.from_model(_model(state),
                                                                 **RATCHET_CONFIG)
            self.skipped_since = since
            ratchet = _ratchet_to_list(state, since)
        return {
            "oi": _b(self.our_identity), "ti": _b(self.their_identity),
            "or": self.our_registration_id, "tr": self.their_registration_id,
            "bk": _b(self.base_key), "r": ratchet,
            "ps": None if self.pending_start is None else [_b(k) for k in self.pending_start],
            "pp": None if self.pending_pre_key is None else [
                self.pending_pre_key.pre_key_id, self.pending_pre_key.signed_pre_key_id,
                _b(self.pending_pre_key.base_key)],
            "sk": [_b(k) for k in self.seen_ratchet_keys],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], now: int | None = None) -> Session:
        now = int(time.time()) if now is None else now
        session = cls(our_identity=_u(d["oi"]), their_identity=_u(d["ti"]),
                      our_registration_id=d["or"], their_registration_id=d["tr"],
                      base_key=_u(d["bk"]))
        if d["r"] is not None:
            state, since = _ratchet_from_list(d["r"])
            kept, since = _prune_skipped(state[6], since, now)
            session.ratchet = LibsignalDoubleRatchet.from_model(_model((*state[:6], kept)),
                                                                **RATCHET_CONFIG)
            session.skipped_since = since
        if d["ps"] is not None:
            session.pending_start = (_u(d["ps"][0]), _u(d["ps"][1]))
        if d["pp"] is not None:
            session.pending_pre_key = PendingPreKey(d["pp"][0], d["pp"][1], _u(d["pp"][2]))
        # Absent from records written before it was kept.
        session.seen_ratchet_keys = [_u(k) for k in d.get("sk", ())]
        return session


@dataclass(slots=True)
class SessionRecord:
    """All sessions with one peer: the current one first, then superseded ones (newest first)."""

    sessions: list[Session] = field(default_factory=list)

    @property
    def current(self) -> Session | None:
        return self.sessions[0] if self.sessions else None

    def find_by_base_key(self, base_key: bytes) -> Session | None:
        return next((s for s in self.sessions if s.base_key == base_key), None)

    def promote(self, session: Session) -> None:
        """Make ``session`` current, archiving the previous current one."""
        self.sessions = [session] + [s for s in self.sessions if s is not session]
        del self.sessions[1 + MAX_ARCHIVED_SESSIONS:]

    async def decrypt(self, data: bytes) -> bytes:
        """Try the current session, then the archived ones (a late message of an older session)."""
        first_error: Exception | None = None
        for session in self.sessions:
            try:
                return await session.decrypt(data)
            except DecryptionError as e:
                first_error = first_error or e
        if first_error is None:
            raise DuplicateMessageError("no session to decrypt with")
        raise first_error

    def serialize(self, now: int | None = None) -> bytes:
        return json.dumps([s.to_dict(now) for s in self.sessions],
                          separators=(",", ":")).encode()

    @classmethod
    def deserialize(cls, data: bytes, now: int | None = None) -> SessionRecord:
        return cls([Session.from_dict(d, now) for d in json.loads(data)])


class translate_ratchet_errors:
    """Map the ratchet library's exceptions onto this layer's."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None:
            return False
        if isinstance(exc, DuplicateMessageException):
            raise DuplicateMessageError("message key already used") from None
        if isinstance(exc, DoSProtectionException):
            raise TooFarAheadError("too many skipped messages") from None
        if isinstance(exc, (AuthenticationFailedException, DecryptionFailedException,
                            InvalidMessageError)):
            raise TamperedMessageError("message failed authentication") from None
        return False


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _u(text: str) -> bytes:
    return base64.b64decode(text)


#: a ratchet's whole state: own ratchet private key, peer's ratchet public key, root chain,
#: receiving chain, sending chain (each ``(length, key)`` or None), previous sending chain
#: length, skipped message keys ``(ratchet public key, index, message key)`` oldest first
RatchetState = tuple[bytes, bytes, "tuple[int, bytes] | None", "tuple[int, bytes] | None",
                     "tuple[int, bytes] | None", int, "list[tuple[bytes, int, bytes]]"]


def _chain(chain: object | None) -> tuple[int, bytes] | None:
    return None if chain is None else (chain._KDFChain__length,  # type: ignore[attr-defined]
                                       chain._KDFChain__key)  # type: ignore[attr-defined]


def ratchet_state(ratchet: LibsignalDoubleRatchet) -> RatchetState:
    """The ratchet's state, read from the library's objects. The library's own ``model``
    property holds the same, but builds and validates six pydantic models on every call, which
    was most of the time spent serialising a session (once per message); doubleratchet 1.x keeps
    the state in these private attributes. test_protocol.py checks this against ``model``."""
    dh = ratchet._DoubleRatchet__diffie_hellman_ratchet  # type: ignore[attr-defined]
    sym = dh._DiffieHellmanRatchet__symmetric_key_ratchet
    return (dh._DiffieHellmanRatchet__own_ratchet_priv,
            dh._DiffieHellmanRatchet__other_ratchet_pub,
            _chain(dh._DiffieHellmanRatchet__root_chain),
            _chain(sym._SymmetricKeyRatchet__receiving_chain),
            _chain(sym._SymmetricKeyRatchet__sending_chain),
            sym._SymmetricKeyRatchet__previous_sending_chain_length,
            [(pub, index, key) for (pub, index), key
             in ratchet._DoubleRatchet__skipped_message_keys.items()])  # type: ignore[attr-defined]


def _model(state: RatchetState) -> DoubleRatchetModel:
    # model_construct skips validation: the state comes from our own ratchet or sealed record
    def chain(c: tuple[int, bytes] | None) -> KDFChainModel | None:
        return None if c is None else KDFChainModel.model_construct(length=c[0], key=c[1])

    return DoubleRatchetModel.model_construct(
        version="1.0.0",
        diffie_hellman_ratchet=DiffieHellmanRatchetModel.model_construct(
            version="1.0.0", own_ratchet_priv=state[0], other_ratchet_pub=state[1],
            root_chain=chain(state[2]),
            symmetric_key_ratchet=SymmetricKeyRatchetModel.model_construct(
                version="1.0.0", receiving_chain=chain(state[3]), sending_chain=chain(state[4]),
                previous_sending_chain_length=state[5])),
        skipped_message_keys=[SkippedMessageKeyModel.model_construct(
            ratchet_pub=pub, index=index, message_key=key) for pub, index, key in state[6]])


def _prune_skipped(
    keys: list[tuple[bytes, int, bytes]], since: dict[tuple[bytes, int], int], now: int,
) -> tuple[list[tuple[bytes, int, bytes]], dict[tuple[bytes, int], int]]:
    kept, new_since = [], {}
    for key in keys:
        ident = (key[0], key[1])
        first_seen = since.get(ident, now)
        if now - first_seen <= SKIPPED_KEY_MAX_AGE_SECONDS:
            kept.append(key)
            new_since[ident] = first_seen
    return kept, new_since


def _chain_to_list(chain: tuple[int, bytes] | None) -> list[int | str] | None:
    return None if chain is None else [chain[0], _b(chain[1])]


def _chain_from_list(data: list[Any] | None) -> tuple[int, bytes] | None:
    return None if data is None else (data[0], _u(data[1]))


def _ratchet_to_list(state: RatchetState, since: dict[tuple[bytes, int], int]) -> list[Any]:
    return [
        _b(state[0]), _b(state[1]), _chain_to_list(state[2]), _chain_to_list(state[3]),
        _chain_to_list(state[4]), state[5],
        [[_b(pub), index, _b(key), since[(pub, index)]] for pub, index, key in state[6]],
    ]


def _ratchet_from_list(data: list[Any]) -> tuple[RatchetState, dict[tuple[bytes, int], int]]:
    skipped, since = [], {}
    for pub, index, key, first_seen in data[6]:
        pub_bytes = _u(pub)
        skipped.append((pub_bytes, index, _u(key)))
        since[(pub_bytes, index)] = first_seen
    return (_u(data[0]), _u(data[1]), _chain_from_list(data[2]), _chain_from_list(data[3]),
            _chain_from_list(data[4]), data[5], skipped), since

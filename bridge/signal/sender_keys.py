"""Sender keys for groups (libsignal's classic group cipher), sans-I/O plus a thin stored shell.

Each member sends with its own chain: message seed = HMAC(ck, 0x01), next chain key =
HMAC(ck, 0x02); HKDF(seed, 32 zero bytes, "WhisperGroup", 48) = IV(16) ‖ AES key(32);
AES-256-CBC; the serialised SenderKeyMessage is signed (XEdDSA) with the chain's signing key. The
chain key, its iteration and the signing public key reach the other members in a
SenderKeyDistributionMessage sent inside each pairwise session.

Hand-written on the primitives: the ``doubleratchet`` package has no sender-key chain.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import secrets
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..gateway.ids import Address
from .errors import DuplicateMessageError, NoSessionError, TamperedMessageError, TooFarAheadError
from .keys import KeyPair, sign, verify
from .ratchet import aes_cbc_decrypt, aes_cbc_encrypt
from .store import SignalStore
from .types import GroupId
from .wire import SenderKeyDistributionMessage, SenderKeyMessage

#: most message keys one message may make us derive, and most kept per chain (libsignal: 2000)
MAX_FUTURE_MESSAGES = 2000
MAX_SKIPPED_KEYS = 2000
#: states kept per (group, sender): a member that re-keys may still have messages in flight
MAX_STATES = 5


def _chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """chain key -> (message seed, next chain key)."""
    return (hmac.new(chain_key, b"\x01", sha256).digest(),
            hmac.new(chain_key, b"\x02", sha256).digest())


def _message_keys(seed: bytes) -> tuple[bytes, bytes]:
    """message seed -> (IV, AES key)."""
    out = HKDF(hashes.SHA256(), 48, bytes(32), b"WhisperGroup").derive(seed)
    return out[:16], out[16:48]


@dataclass(slots=True)
class SenderKeyState:
    key_id: int
    iteration: int
    chain_key: bytes
    signing_public: bytes
    signing_private: bytes | None = None  # only for our own chain
    skipped: dict[int, bytes] = field(default_factory=dict)  # iteration -> message seed

    def to_json(self) -> dict[str, Any]:
        def b(v: bytes) -> str:
            return base64.b64encode(v).decode()

        return {"id": self.key_id, "it": self.iteration, "ck": b(self.chain_key),
                "spub": b(self.signing_public),
                "spriv": None if self.signing_private is None else b(self.signing_private),
                "sk": {str(k): b(v) for k, v in self.skipped.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SenderKeyState:
        u = base64.b64decode
        return cls(d["id"], d["it"], u(d["ck"]), u(d["spub"]),
                   None if d["spriv"] is None else u(d["spriv"]),
                   {int(k): u(v) for k, v in d["sk"].items()})


@dataclass(slots=True)
class SenderKeyRecord:
    """The chains of one sender in one group, newest first."""

    states: list[SenderKeyState] = field(default_factory=list)

    def state(self, key_id: int) -> SenderKeyState | None:
        return next((s for s in self.states if s.key_id == key_id), None)

    def add(self, state: SenderKeyState) -> None:
        self.states = [state] + [s for s in self.states if s.key_id != state.key_id]
        del self.states[MAX_STATES:]

    def serialize(self) -> bytes:
        return json.dumps([s.to_json() for s in self.states]).encode()

    @classmethod
    def deserialize(cls, data: bytes) -> SenderKeyRecord:
        return cls([SenderKeyState.from_json(d) for d in json.loads(data)])


def create_own_chain(record: SenderKeyRecord) -> SenderKeyDistributionMessage:
    """Start our own sending chain in a group (if none yet) and describe it for the members."""
    if not record.states or record.states[0].signing_private is None:
        signing = KeyPair.generate()
        record.add(SenderKeyState(secrets.randbits(31), 0, secrets.token_bytes(32),
                                  signing.public, signing.private))
    own = record.states[0]
    return SenderKeyDistributionMessage(own.key_id, own.iteration, own.chain_key,
                                        own.signing_public)


def group_encrypt(record: SenderKeyRecord, plaintext: bytes) -> bytes:
    own = record.states[0] if record.states else None
    if own is None or own.signing_private is None:
        raise NoSessionError("no own sender key in this group: create the chain first")
    seed, next_chain = _chain_step(own.chain_key)
    iv, key = _message_keys(seed)
    signed_part = SenderKeyMessage.encode_unsigned(own.key_id, own.iteration,
                                                   aes_cbc_encrypt(key, iv, plaintext))
    own.iteration += 1
    own.chain_key = next_chain
    return signed_part + sign(own.signing_private, signed_part)


def process_distribution(record: SenderKeyRecord, message: SenderKeyDistributionMessage) -> None:
    existing = record.state(message.key_id)
    if existing is not None and existing.iteration <= message.iteration:
        return  # we already have this chain at or before that point
    record.add(SenderKeyState(message.key_id, message.iteration, message.chain_key,
                              message.signing_key))


def group_decrypt(record: SenderKeyRecord, body: bytes) -> bytes:
    """Decrypt a SenderKeyMessage; the record changes only on success."""
    message = SenderKeyMessage.parse(body)
    state = record.state(message.key_id)
    if state is None:
        raise NoSessionError("no sender key with that id: ask for a distribution message")
    if not verify(state.signing_public, message.signed_part, message.signature):
        raise TamperedMessageError("sender key message signature does not verify")
    work = copy.deepcopy(state)
    if message.iteration < work.iteration:
        seed = work.skipped.pop(message.iteration, None)
        if seed is None:
            raise DuplicateMessageError("sender key message already decrypted")
    else:
        if message.iteration - work.iteration > MAX_FUTURE_MESSAGES:
            raise TooFarAheadError("sender key message too far in the future")
        while work.iteration < message.iteration:
            seed, work.chain_key = _chain_step(work.chain_key)
            work.skipped[work.iteration] = seed
            work.iteration += 1
        seed, work.chain_key = _chain_step(work.chain_key)
        work.iteration += 1
        while len(work.skipped) > MAX_SKIPPED_KEYS:
            del work.skipped[min(work.skipped)]
    iv, key = _message_keys(seed)
    try:
        plaintext = aes_cbc_decrypt(key, iv, message.ciphertext)
    except Exception:  # noqa: BLE001 - whatever fails to decrypt was tampered with
        raise TamperedMessageError("sender key message does not decrypt") from None
    record.states[record.states.index(state)] = work
    return plaintext


class GroupCipher:
    """One user's sender keys, stored sealed through the user's boundary."""

    def __init__(self, store: SignalStore) -> None:
        self.store, self.user_id = store, store.user

    async def _load(self, conn: Any, group: GroupId, sender: str) -> SenderKeyRecord:
        data = await self.store.load_sender_key(conn, group, sender)
        return SenderKeyRecord() if data is None else SenderKeyRecord.deserialize(data)

    async def _save(self, conn: Any, group: GroupId, sender: str, record: SenderKeyRecord) -> None:
        await self.store.save_sender_key(conn, group, sender, record.serialize())

    async def distribution_message(self, conn: Any, group: GroupId) -> bytes:
        """Our chain in ``group`` as a SenderKeyDistributionMessage (send it pairwise)."""
        record = await self._load(conn, group, self.user_id)
        message = create_own_chain(record)
        await self._save(conn, group, self.user_id, record)
        return message.serialize()

    async def encrypt(self, conn: Any, group: GroupId, plaintext: bytes) -> bytes:
        record = await self._load(conn, group, self.user_id)
        body = group_encrypt(record, plaintext)
        await self._save(conn, group, self.user_id, record)
        return body

    async def process_distribution(self, conn: Any, group: GroupId, sender: Address,
                                   body: bytes) -> None:
        record = await self._load(conn, group, sender)
        process_distribution(record, SenderKeyDistributionMessage.parse(body))
        await self._save(conn, group, sender, record)

    async def decrypt(self, conn: Any, group: GroupId, sender: Address, body: bytes) -> bytes:
        record = await self._load(conn, group, sender)
        plaintext = group_decrypt(record, body)
        await self._save(conn, group, sender, record)
        return plaintext

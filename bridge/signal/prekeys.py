"""Our own keys: identity, signed prekeys (rotated, the previous kept for a grace period) and the
pool of one-time prekeys. Pure data and policy; storage is elsewhere."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .keys import KeyPair, encode_public_key, sign
from .types import PreKeyId, RegistrationId, SignedPreKeyId

#: how many one-time prekeys we keep published, and the level below which we refill
PRE_KEY_POOL_SIZE = 50
PRE_KEY_REFILL_BELOW = 5
#: ids are 3 bytes on the wire; they start at 1 and wrap round past the top
MAX_KEY_ID = 0xFFFFFF
#: a signed prekey is replaced after a week...
SIGNED_PRE_KEY_ROTATION_SECONDS = 7 * 24 * 3600
#: ...and the replaced one still answers session set-ups for 30 days, as long as the gateway keeps
#: an offline client's messages, so a PreKeySignalMessage that waited in the mailbox still opens
SIGNED_PRE_KEY_GRACE_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    identity: KeyPair
    registration_id: RegistrationId


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    key_id: SignedPreKeyId
    key_pair: KeyPair
    signature: bytes
    created_at: int


@dataclass(frozen=True, slots=True)
class PreKey:
    key_id: PreKeyId
    key_pair: KeyPair


def next_key_id(key_id: int) -> int:
    return 1 if key_id >= MAX_KEY_ID else key_id + 1


def generate_signed_pre_key(identity: KeyPair, key_id: int, now: int) -> SignedPreKey:
    pair = KeyPair.generate()
    return SignedPreKey(SignedPreKeyId(key_id), pair,
                        sign(identity.private, encode_public_key(pair.public)), now)


def generate_pre_keys(first_id: int, count: int) -> list[PreKey]:
    keys, key_id = [], first_id
    for _ in range(count):
        keys.append(PreKey(PreKeyId(key_id), KeyPair.generate()))
        key_id = next_key_id(key_id)
    return keys


def pre_keys_to_add(unused_count: int) -> int:
    """How many one-time prekeys to generate now (0 unless the pool is below the refill level)."""
    return PRE_KEY_POOL_SIZE - unused_count if unused_count < PRE_KEY_REFILL_BELOW else 0


def signed_pre_key_due(current: SignedPreKey, now: int) -> bool:
    return now - current.created_at >= SIGNED_PRE_KEY_ROTATION_SECONDS


def expired_signed_pre_keys(keys: list[SignedPreKey], current_id: int,
                            now: int) -> list[SignedPreKeyId]:
    """Ids of replaced signed prekeys whose grace period is over.

    A replaced key's grace starts when its successor was created, i.e. at the next newer key's
    ``created_at``.
    """
    ordered = sorted(keys, key=lambda k: k.created_at)
    expired = []
    for older, newer in itertools.pairwise(ordered):
        if older.key_id != current_id and now - newer.created_at >= SIGNED_PRE_KEY_GRACE_SECONDS:
            expired.append(older.key_id)
    return expired

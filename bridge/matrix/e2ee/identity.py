"""Cross-signing identities of the bridge's own Matrix users (the bot and every ghost that speaks).

Element shows a message only when the Megolm session comes from a device that its owner has
cross-signed (MSC4153). Each of our users therefore has a master, a self-signing and a
user-signing key; its device is signed by the self-signing key. The private keys are kept as
seeds sealed under the master key (:mod:`.records`); this module decides what to do at start and
builds the signed objects the homeserver takes.

:func:`decide` is pure: the identity we hold against the one the homeserver publishes.
"""

from __future__ import annotations

import enum
import os

from attrs import frozen
from mautrix.crypto import OlmAccount
from mautrix.crypto.signature import sign_olm
from mautrix.types import (
    CrossSigningKeys,
    CrossSigningUsage,
    DeviceID,
    DeviceKeys,
    KeyID,
    QueryKeysResponse,
    SigningKey,
    UserID,
)
from olm import PkSigning

SEED_BYTES = 32


@frozen
class CrossSigningSeeds:
    """The three private keys, as the 32-byte seeds libolm's ``PkSigning`` is made from."""

    master: bytes
    self_signing: bytes
    user_signing: bytes

    @classmethod
    def generate(cls) -> CrossSigningSeeds:
        return cls(os.urandom(SEED_BYTES), os.urandom(SEED_BYTES), os.urandom(SEED_BYTES))

    def to_bytes(self) -> bytes:
        return self.master + self.self_signing + self.user_signing

    @classmethod
    def from_bytes(cls, raw: bytes) -> CrossSigningSeeds:
        if len(raw) != 3 * SEED_BYTES:
            raise ValueError("cross-signing seeds must be 96 bytes")
        return cls(raw[:SEED_BYTES], raw[SEED_BYTES:2 * SEED_BYTES], raw[2 * SEED_BYTES:])

    def signers(self) -> CrossSigningSigners:
        return CrossSigningSigners(PkSigning(self.master), PkSigning(self.self_signing),
                                   PkSigning(self.user_signing))


@frozen
class CrossSigningSigners:
    master: PkSigning
    self_signing: PkSigning
    user_signing: PkSigning

    @property
    def master_public(self) -> SigningKey:
        return SigningKey(self.master.public_key)

    @property
    def self_signing_public(self) -> SigningKey:
        return SigningKey(self.self_signing.public_key)


class IdentityAction(enum.Enum):
    #: The homeserver publishes the identity we hold: only check the device's signature.
    KEEP = "keep"
    #: We hold an identity the homeserver does not know (a new installation, a restored
    #: homeserver): publish it.
    PUBLISH = "publish"
    #: We hold an identity but the homeserver publishes another: ours is the bridge's, publish
    #: it again (someone or something replaced it; people see an identity change either way).
    REPUBLISH = "republish"
    #: Nothing held and nothing published: make the identity (a new user, or the first start
    #: after an upgrade from a bridge without cross-signing).
    CREATE = "create"
    #: Nothing held but the homeserver publishes one: the private keys are really lost
    #: (a database restored from before they were made). Make a new one, loudly.
    REPLACE_LOST = "replace-lost"


def decide(held_master: str | None, published_master: str | None) -> IdentityAction:
    if held_master is not None:
        if published_master is None:
            return IdentityAction.PUBLISH
        return IdentityAction.KEEP if published_master == held_master else IdentityAction.REPUBLISH
    return IdentityAction.CREATE if published_master is None else IdentityAction.REPLACE_LOST


@frozen
class PublishedIdentity:
    """What ``/keys/query`` says of one of our users and its device."""

    master: str | None
    self_signing: str | None
    device_published: bool
    device_signed_by: frozenset[str]

    @classmethod
    def from_query(cls, response: QueryKeysResponse, user_id: UserID,
                   device_id: DeviceID) -> PublishedIdentity:
        master_keys = response.master_keys.get(user_id)
        ssk_keys = response.self_signing_keys.get(user_id)
        device = response.device_keys.get(user_id, {}).get(device_id)
        signed_by: frozenset[str] = frozenset()
        if device is not None:
            signed_by = frozenset(str(key_id) for key_id in
                                  (device.signatures or {}).get(user_id, {}))
        return cls(master=master_keys.first_key if master_keys else None,
                   self_signing=ssk_keys.first_key if ssk_keys else None,
                   device_published=device is not None, device_signed_by=signed_by)

    def device_signed_by_self_signing_key(self, self_signing_public: str) -> bool:
        return (self.self_signing == self_signing_public
                and str(KeyID.ed25519(self_signing_public)) in self.device_signed_by)


def cross_signing_keys(user_id: UserID, signers: CrossSigningSigners, account: OlmAccount,
                       device_id: DeviceID) -> dict[CrossSigningUsage, CrossSigningKeys]:
    """The three public keys as ``/keys/device_signing/upload`` takes them: the master key
    signed by the device (so our own device vouches for it), the other two by the master key."""
    def key(usage: CrossSigningUsage, signer: PkSigning) -> CrossSigningKeys:
        public = SigningKey(signer.public_key)
        return CrossSigningKeys(user_id=user_id, usage=[usage],
                                keys={KeyID.ed25519(public): public})

    master = key(CrossSigningUsage.MASTER, signers.master)
    master.signatures = {user_id: {KeyID.ed25519(device_id): sign_olm(master, account)}}
    self_signing = key(CrossSigningUsage.SELF, signers.self_signing)
    user_signing = key(CrossSigningUsage.USER, signers.user_signing)
    for signed in (self_signing, user_signing):
        signed.signatures = {
            user_id: {KeyID.ed25519(signers.master_public): sign_olm(signed, signers.master)}}
    return {CrossSigningUsage.MASTER: master, CrossSigningUsage.SELF: self_signing,
            CrossSigningUsage.USER: user_signing}


def signed_device_keys(user_id: UserID, device_id: DeviceID, account: OlmAccount,
                       signers: CrossSigningSigners) -> DeviceKeys:
    """The device's keys with the self-signing key's signature added (``/keys/signatures``)."""
    keys = account.get_device_keys(user_id, device_id)
    signature = sign_olm(keys, signers.self_signing)
    keys.signatures[user_id][KeyID.ed25519(signers.self_signing_public)] = signature
    return keys

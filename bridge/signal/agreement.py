"""X3DH as libsignal performs it (version 3): the initiator's and the responder's halves.

Written on top of ``xeddsa`` rather than through the ``x3dh`` package's ``BaseState``: that
class verifies signed-prekey signatures assuming the Edwards sign bit is zero (XEdDSA proper),
which rejects about half of the signatures made by curve25519-js and older libsignal builds (they
carry the sign bit in the signature), and it has no notion of prekey ids. The arithmetic is the
same and a test cross-checks both halves against ``x3dh``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .keys import KeyPair, agree, encode_public_key, verify

_PADDING = b"\xff" * 32
_INFO = b"WhisperText"


class InvalidSignatureError(ValueError):
    """The signed prekey's signature does not verify under the claimed identity key."""


@dataclass(frozen=True, slots=True)
class PeerBundle:
    """One peer's published keys as used for a single session set-up (bare 32-byte keys)."""

    registration_id: int
    device_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key: bytes
    signed_pre_key_signature: bytes
    pre_key_id: int | None = None
    pre_key: bytes | None = None


def _root_key(*secrets: bytes) -> bytes:
    # libsignal derives 64 bytes (root key ‖ first chain key); HKDF's first block does not depend
    # on the output length, so these 32 bytes are exactly its root key. The chain key half only
    # seeds chains libsignal never uses for the first message exchange.
    return HKDF(hashes.SHA256(), 32, bytes(32), _INFO).derive(_PADDING + b"".join(secrets))


def initiate(our_identity: KeyPair, bundle: PeerBundle) -> tuple[bytes, KeyPair]:
    """Initiator's half: verify the bundle, then return (root key, our base key pair)."""
    if not verify(bundle.identity_key, encode_public_key(bundle.signed_pre_key),
                  bundle.signed_pre_key_signature):
        raise InvalidSignatureError("signed prekey signature does not verify")
    base = KeyPair.generate()
    secrets = [
        agree(our_identity.private, bundle.signed_pre_key),
        agree(base.private, bundle.identity_key),
        agree(base.private, bundle.signed_pre_key),
    ]
    if bundle.pre_key is not None:
        secrets.append(agree(base.private, bundle.pre_key))
    return _root_key(*secrets), base


def respond(our_identity: KeyPair, our_signed_pre_key: KeyPair, our_pre_key: KeyPair | None,
            their_identity: bytes, their_base_key: bytes) -> bytes:
    """Responder's half: the root key from the keys named in a PreKeySignalMessage."""
    secrets = [
        agree(our_signed_pre_key.private, their_identity),
        agree(our_identity.private, their_base_key),
        agree(our_signed_pre_key.private, their_base_key),
    ]
    if our_pre_key is not None:
        secrets.append(agree(our_pre_key.private, their_base_key))
    return _root_key(*secrets)

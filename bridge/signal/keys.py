"""Curve25519 keys as libsignal encodes them, and XEdDSA signatures made with them.

Public keys travel as 33 bytes (``0x05`` type byte, then the 32-byte X25519 key). Signatures use
the ``xeddsa`` library. Our own signatures are XEdDSA proper (sign bit of the Edwards key forced
to zero, so the signature's top bit is zero). Verification also accepts the older libsignal
convention, still used by curve25519-js and hence by WhatsApp Web clients, where the Edwards key's
sign bit is carried in the top bit of the signature's last byte.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import xeddsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .types import RegistrationId

DJB_TYPE = 0x05
PUBLIC_KEY_LENGTH = 33


class InvalidKeyError(ValueError):
    """A public key is not a well-formed 33-byte (or bare 32-byte) Curve25519 key."""


def encode_public_key(pub: bytes) -> bytes:
    """32-byte X25519 key -> the 33-byte wire form."""
    if len(pub) != 32:
        raise InvalidKeyError("expected a 32-byte Curve25519 public key")
    return bytes((DJB_TYPE,)) + pub


def decode_public_key(encoded: bytes) -> bytes:
    """The 33-byte wire form -> the 32-byte X25519 key."""
    if len(encoded) != PUBLIC_KEY_LENGTH or encoded[0] != DJB_TYPE:
        raise InvalidKeyError("expected a 33-byte public key starting with 0x05")
    return bytes(encoded[1:])


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A Curve25519 key pair; ``public`` is the bare 32-byte key."""

    private: bytes
    public: bytes

    def __repr__(self) -> str:  # never let a private key reach a log through repr()
        return f"KeyPair(public={self.public.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> KeyPair:
        private = X25519PrivateKey.generate().private_bytes_raw()
        return cls(private, xeddsa.priv_to_curve25519_pub(private))

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        return cls(private, xeddsa.priv_to_curve25519_pub(private))

    @property
    def public_encoded(self) -> bytes:
        return encode_public_key(self.public)


def agree(private: bytes, their_public: bytes) -> bytes:
    """X25519 shared secret."""
    return xeddsa.x25519(private, their_public)


def sign(identity_private: bytes, message: bytes) -> bytes:
    """XEdDSA signature (64 bytes) with a Curve25519 private key."""
    return xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(identity_private, False), message)


def verify(identity_public: bytes, message: bytes, signature: bytes) -> bool:
    """Check an XEdDSA signature made by the Curve25519 key ``identity_public`` (32 bytes)."""
    if len(signature) != 64 or len(identity_public) != 32:
        return False
    sign_bit = bool(signature[63] & 0x80)
    stripped = signature[:63] + bytes((signature[63] & 0x7F,))
    try:
        edwards = xeddsa.curve25519_pub_to_ed25519_pub(identity_public, sign_bit)
        return xeddsa.ed25519_verify(stripped, edwards, message)
    except Exception:  # noqa: BLE001 - a malformed point is just a bad signature
        return False


def generate_registration_id() -> RegistrationId:
    """A random 14-bit registration id (libsignal's range, 1..16380)."""
    return RegistrationId(secrets.randbelow(16380) + 1)

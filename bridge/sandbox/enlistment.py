"""Enlistment request checks (``POST /3p/interop_reg``), as pure functions.

The form carries base64url values (padding optional) exactly as in the public framework. Everything
here is checked before the identity token, because those checks are cheap and need no network.
A refusal carries one of the documented ``reason`` strings (see docs/sandbox.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import xeddsa

# Form fields (docs/gateway-protocol.md §4).
FIELD_AUTHKEY = "authkey"
FIELD_KEYTYPE = "e_keytype"
FIELD_REGID = "e_regid"
FIELD_IDENTITY = "e_ident"
FIELD_SPK_ID = "e_skey_id"
FIELD_SPK = "e_skey_val"
FIELD_SPK_SIG = "e_skey_sig"
FIELD_TOKEN = "token"

KEYTYPE_CURVE25519 = 0x05
MAX_TOKEN_BYTES = 4096


class Reason:
    """Refusal reasons of the enlistment endpoint and their HTTP status (protocol §4)."""

    BAD_INTEGRATOR = "bad_integrator"  # the token's iss is not a configured partner
    BAD_TOKEN = "bad_token"            # signature, aud, exp/iat or claims invalid
    BAD_KEYS = "bad_keys"              # missing field, wrong length/key type, bad signature
    BAD_REQUEST = "bad_request"        # not a form, bad base64url
    VERSION = "version"                # reserved
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"



HTTP_STATUS: dict[str, int] = {
    Reason.BAD_INTEGRATOR: 403, Reason.BAD_TOKEN: 401, Reason.BAD_KEYS: 400,
    Reason.BAD_REQUEST: 400, Reason.VERSION: 406, Reason.RATE_LIMITED: 429,
    Reason.UNAVAILABLE: 503,
}


class EnlistmentRefused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.reason, 400)


@dataclass(frozen=True)
class EnlistmentKeys:
    noise_key: bytes
    registration_id: int
    identity_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes


def b64url_decode(value: str) -> bytes:
    """Strict base64url (``-_``), padding optional."""
    value = value.strip()
    if any(c in value for c in "+/"):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError("not base64url") from e


def b64url_encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise EnlistmentRefused(Reason.BAD_KEYS, f"missing {name}")
    return value


def _bytes_field(form: Mapping[str, str], name: str, length: int) -> bytes:
    try:
        raw = b64url_decode(_field(form, name))
    except ValueError:
        raise EnlistmentRefused(Reason.BAD_REQUEST, f"{name} is not base64url") from None
    if len(raw) != length:
        raise EnlistmentRefused(Reason.BAD_KEYS, f"{name} must be {length} bytes, got {len(raw)}")
    return raw


def parse_keys(form: Mapping[str, str]) -> EnlistmentKeys:
    """Decode and check every key field; verifies the signed prekey's XEdDSA signature."""
    keytype = _bytes_field(form, FIELD_KEYTYPE, 1)
    if keytype[0] != KEYTYPE_CURVE25519:
        raise EnlistmentRefused(Reason.BAD_KEYS, "e_keytype must be 0x05 (curve25519)")
    keys = EnlistmentKeys(
        noise_key=_bytes_field(form, FIELD_AUTHKEY, 32),
        registration_id=int.from_bytes(_bytes_field(form, FIELD_REGID, 4), "big"),
        identity_key=_bytes_field(form, FIELD_IDENTITY, 32),
        signed_prekey_id=int.from_bytes(_bytes_field(form, FIELD_SPK_ID, 3), "big"),
        signed_prekey=_bytes_field(form, FIELD_SPK, 32),
        signed_prekey_signature=_bytes_field(form, FIELD_SPK_SIG, 64),
    )
    if not verify_signed_prekey(keys.identity_key, keys.signed_prekey,
                                keys.signed_prekey_signature):
        raise EnlistmentRefused(Reason.BAD_KEYS, "signed prekey signature does not verify")
    return keys


def token_field(form: Mapping[str, str]) -> str:
    token = _field(form, FIELD_TOKEN)
    if len(token.encode()) > MAX_TOKEN_BYTES:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "token longer than 4 KB")
    return token


def verify_signed_prekey(identity_key: bytes, signed_prekey: bytes, signature: bytes) -> bool:
    """XEdDSA check as libsignal does it: the message is the 33-byte encoded prekey (0x05 ‖ key).

    libsignal keeps the Ed25519 public key's sign bit in the signature's top bit; the XEdDSA
    specification signs with that bit forced to 0. Reading it from the signature accepts both.
    """
    if len(identity_key) != 32 or len(signed_prekey) != 32 or len(signature) != 64:
        return False
    sign_bit = bool(signature[63] & 0x80)
    cleaned = signature[:63] + bytes([signature[63] & 0x7F])
    try:
        ed_pub = xeddsa.curve25519_pub_to_ed25519_pub(identity_key, sign_bit)
        return xeddsa.ed25519_verify(cleaned, ed_pub, bytes([KEYTYPE_CURVE25519]) + signed_prekey)
    except xeddsa.XEdDSAException:
        return False

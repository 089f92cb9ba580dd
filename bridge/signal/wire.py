"""Classic Signal (version 3) wire messages: parse and serialise, nothing else.

SignalMessage          = 0x33 ‖ protobuf{ratchetKey=1, counter=2, previousCounter=3,
                                         ciphertext=4} ‖ MAC(8)
PreKeySignalMessage    = 0x33 ‖ protobuf{preKeyId=1, baseKey=2, identityKey=3, message=4,
                                         registrationId=5, signedPreKeyId=6}
SenderKeyMessage       = 0x33 ‖ protobuf{id=1, iteration=2, ciphertext=3} ‖ signature(64)
SenderKeyDistribution  = 0x33 ‖ protobuf{id=1, iteration=2, chainKey=3, signingKey=4}
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DecryptionError
from .keys import decode_public_key, encode_public_key
from .protobuf_codec import ProtobufDecodeError, decode_fields, encode_fields

VERSION_BYTE = 0x33  # current version 3, minimum version 3
MAC_LENGTH = 8
SIGNATURE_LENGTH = 64


class InvalidMessageError(DecryptionError, ValueError):
    """A message that cannot be parsed (bad version, truncated, missing field)."""


def _check_version(data: bytes) -> None:
    if not data:
        raise InvalidMessageError("empty message")
    if data[0] >> 4 < 3 or data[0] & 0xF > 3:
        raise InvalidMessageError(f"unsupported message version byte {data[0]:#x}")


def _decode(body: bytes) -> dict[int, int | bytes]:
    try:
        return decode_fields(body)
    except ProtobufDecodeError as e:
        raise InvalidMessageError(str(e)) from e


def _bytes_field(fields: dict[int, int | bytes], number: int) -> bytes:
    value = fields.get(number)
    if not isinstance(value, bytes):
        raise InvalidMessageError(f"missing byte field {number}")
    return value


def _int_field(fields: dict[int, int | bytes], number: int, default: int | None = None) -> int:
    value = fields.get(number, default)
    if not isinstance(value, int):
        raise InvalidMessageError(f"missing integer field {number}")
    return value


def _key_field(fields: dict[int, int | bytes], number: int) -> bytes:
    try:
        return decode_public_key(_bytes_field(fields, number))
    except ValueError as e:
        raise InvalidMessageError(f"bad public key in field {number}") from e


@dataclass(frozen=True, slots=True)
class SignalMessage:
    """A normal ratchet message. ``ratchet_key`` is the bare 32-byte key."""

    ratchet_key: bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    #: version byte ‖ protobuf, i.e. exactly the bytes the MAC covers after the two identities
    signed_part: bytes
    mac: bytes

    @staticmethod
    def encode_unsigned(ratchet_key: bytes, counter: int, previous_counter: int,
                        ciphertext: bytes) -> bytes:
        return bytes((VERSION_BYTE,)) + encode_fields([
            (1, encode_public_key(ratchet_key)), (2, counter), (3, previous_counter),
            (4, ciphertext),
        ])

    @classmethod
    def parse(cls, data: bytes) -> SignalMessage:
        _check_version(data)
        if len(data) < 1 + MAC_LENGTH:
            raise InvalidMessageError("message too short")
        signed_part, mac = data[:-MAC_LENGTH], data[-MAC_LENGTH:]
        fields = _decode(signed_part[1:])
        return cls(
            ratchet_key=_key_field(fields, 1),
            counter=_int_field(fields, 2),
            previous_counter=_int_field(fields, 3, 0),
            ciphertext=_bytes_field(fields, 4),
            signed_part=bytes(signed_part),
            mac=bytes(mac),
        )


@dataclass(frozen=True, slots=True)
class PreKeySignalMessage:
    """The first messages of a session: X3DH parameters wrapped around a :class:`SignalMessage`."""

    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes
    identity_key: bytes
    message: bytes

    def serialize(self) -> bytes:
        return bytes((VERSION_BYTE,)) + encode_fields([
            (1, self.pre_key_id), (2, encode_public_key(self.base_key)),
            (3, encode_public_key(self.identity_key)), (4, self.message),
            (5, self.registration_id), (6, self.signed_pre_key_id),
        ])

    @classmethod
    def parse(cls, data: bytes) -> PreKeySignalMessage:
        _check_version(data)
        fields = _decode(data[1:])
        pre_key_id = fields.get(1)
        return cls(
            registration_id=_int_field(fields, 5, 0),
            # Prekey ids start at 1 everywhere. libsignal-protocol-typescript sends an explicit 0
            # when it used no one-time prekey, and the Node port reads 0 as "none": so do we.
            pre_key_id=pre_key_id if isinstance(pre_key_id, int) and pre_key_id else None,
            signed_pre_key_id=_int_field(fields, 6),
            base_key=_key_field(fields, 2),
            identity_key=_key_field(fields, 3),
            message=_bytes_field(fields, 4),
        )


@dataclass(frozen=True, slots=True)
class SenderKeyMessage:
    key_id: int
    iteration: int
    ciphertext: bytes
    signed_part: bytes
    signature: bytes

    @staticmethod
    def encode_unsigned(key_id: int, iteration: int, ciphertext: bytes) -> bytes:
        return bytes((VERSION_BYTE,)) + encode_fields(
            [(1, key_id), (2, iteration), (3, ciphertext)])

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyMessage:
        _check_version(data)
        if len(data) < 1 + SIGNATURE_LENGTH:
            raise InvalidMessageError("message too short")
        signed_part, signature = data[:-SIGNATURE_LENGTH], data[-SIGNATURE_LENGTH:]
        fields = _decode(signed_part[1:])
        return cls(_int_field(fields, 1), _int_field(fields, 2), _bytes_field(fields, 3),
                   bytes(signed_part), bytes(signature))


@dataclass(frozen=True, slots=True)
class SenderKeyDistributionMessage:
    key_id: int
    iteration: int
    chain_key: bytes
    signing_key: bytes  # bare 32-byte Curve25519 key

    def serialize(self) -> bytes:
        return bytes((VERSION_BYTE,)) + encode_fields([
            (1, self.key_id), (2, self.iteration), (3, self.chain_key),
            (4, encode_public_key(self.signing_key)),
        ])

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistributionMessage:
        _check_version(data)
        fields = _decode(data[1:])
        chain_key = _bytes_field(fields, 3)
        if len(chain_key) != 32:
            raise InvalidMessageError("chain key must be 32 bytes")
        return cls(_int_field(fields, 1), _int_field(fields, 2), chain_key, _key_field(fields, 4))

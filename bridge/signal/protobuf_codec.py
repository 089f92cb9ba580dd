"""The few protobuf encoding rules the classic Signal messages need: varints and byte strings.

Hand-written rather than generated: the four wire messages have at most six scalar fields each,
and a direct encoder keeps the hot path free of per-message object construction. Field order on
output follows field numbers, as protobuf encoders do, so a MAC computed over our encoding matches
one computed over libsignal's.
"""

from __future__ import annotations

WIRE_VARINT = 0
WIRE_BYTES = 2


class ProtobufDecodeError(ValueError):
    """Truncated or malformed protobuf input."""


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_fields(fields: list[tuple[int, int | bytes | None]]) -> bytes:
    """Encode ``(field number, value)`` pairs: ints as varints, bytes length-delimited."""
    out = bytearray()
    for number, value in fields:
        if value is None:
            continue
        if isinstance(value, int):
            out += encode_varint(number << 3 | WIRE_VARINT)
            out += encode_varint(value)
        else:
            out += encode_varint(number << 3 | WIRE_BYTES)
            out += encode_varint(len(value))
            out += value
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufDecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def decode_fields(data: bytes) -> dict[int, int | bytes]:
    """Decode a flat message into ``{field number: last value}``; refuse unknown wire types."""
    fields: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == WIRE_VARINT:
            fields[number], pos = _read_varint(data, pos)
        elif wire_type == WIRE_BYTES:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ProtobufDecodeError("truncated field")
            fields[number] = bytes(data[pos:pos + length])
            pos += length
        elif wire_type == 5:  # fixed32: not used by these messages, skip it
            pos += 4
        elif wire_type == 1:  # fixed64
            pos += 8
        else:
            raise ProtobufDecodeError(f"unsupported wire type {wire_type}")
    if pos != len(data):
        raise ProtobufDecodeError("trailing bytes")
    return fields

"""The v1 binary stanza encoding ("ISB1"): compact, canonical, and cheap to decode safely.

Grammar (docs/gateway-protocol.md, "Binary stanza encoding")::

    node    = string(tag) varint(attr_count) *(string(key) string(value)) content
    content = 0x00                               ; no content
            | 0x01 varint(length) bytes          ; raw bytes
            | 0x02 varint(count) count*node      ; children
    string  = varint(2*i + 1)                    ; token i of the dictionary
            | varint(2*n) n*utf8-byte            ; literal of n bytes

Varints are unsigned LEB128, minimal, at most 5 bytes (values below 2**32).
"""

from __future__ import annotations

from .dictionary import TOKEN_INDEX_V1, TOKENS_V1
from .errors import CodecError
from .node import Node

CONTENT_NONE = 0
CONTENT_BYTES = 1
CONTENT_LIST = 2

#: Deepest nesting accepted; real stanzas need 4, the margin is for future stanzas.
MAX_DEPTH = 32
_MAX_VARINT = 2**32 - 1


def _write_varint(out: bytearray, value: int) -> None:
    if value < 0 or value > _MAX_VARINT:
        raise CodecError(f"value {value} does not fit a varint")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Writer:
    def __init__(self, tokens: dict[str, int]) -> None:
        self.out = bytearray()
        self.tokens = tokens

    def string(self, text: str) -> None:
        token = self.tokens.get(text)
        if token is not None:
            _write_varint(self.out, 2 * token + 1)
            return
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CodecError("string is not encodable as UTF-8") from exc
        _write_varint(self.out, 2 * len(raw))
        self.out += raw

    def node(self, node: Node, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise CodecError("stanza nested too deeply")
        if not isinstance(node, Node) or not isinstance(node.tag, str) or not node.tag:
            raise CodecError("a node needs a non-empty string tag")
        self.string(node.tag)
        _write_varint(self.out, len(node.attrs))
        for key, value in node.attrs.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise CodecError("attribute keys and values must be strings")
            self.string(key)
            self.string(value)
        content = node.content
        if content is None:
            self.out.append(CONTENT_NONE)
        elif isinstance(content, (bytes, bytearray)):
            self.out.append(CONTENT_BYTES)
            _write_varint(self.out, len(content))
            self.out += content
        elif isinstance(content, list):
            self.out.append(CONTENT_LIST)
            _write_varint(self.out, len(content))
            for child in content:
                self.node(child, depth + 1)
        else:
            raise CodecError(f"unsupported content type {type(content).__name__}")


class _Reader:
    def __init__(self, data: bytes, tokens: tuple[str, ...]) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.tokens = tokens

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise CodecError("stanza truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        value = 0
        for index in range(5):
            byte = self.byte()
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if byte == 0 and index > 0:
                    raise CodecError("non-minimal varint")
                if value > _MAX_VARINT:
                    raise CodecError("varint out of range")
                return value
        raise CodecError("varint longer than 5 bytes")

    def raw(self, length: int) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise CodecError("stanza truncated")
        chunk = bytes(self.data[self.pos:end])
        self.pos = end
        return chunk

    def string(self) -> str:
        head = self.varint()
        if head & 1:
            index = head >> 1
            if index >= len(self.tokens):
                raise CodecError(f"unknown token {index}")
            return self.tokens[index]
        raw = self.raw(head >> 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError("string is not valid UTF-8") from exc
        return text

    def node(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise CodecError("stanza nested too deeply")
        tag = self.string()
        if not tag:
            raise CodecError("empty tag")
        attrs: dict[str, str] = {}
        for _ in range(self.varint()):
            key = self.string()
            if key in attrs:
                raise CodecError("duplicate attribute")
            attrs[key] = self.string()
        kind = self.byte()
        content: list[Node] | bytes | None
        if kind == CONTENT_NONE:
            content = None
        elif kind == CONTENT_BYTES:
            content = self.raw(self.varint())
        elif kind == CONTENT_LIST:
            count = self.varint()
            # Every node takes at least 3 bytes: refuse impossible counts before looping.
            if count * 3 > len(self.data) - self.pos:
                raise CodecError("stanza truncated")
            content = [self.node(depth + 1) for _ in range(count)]
        else:
            raise CodecError(f"unknown content kind {kind}")
        return Node(tag, attrs, content)


class BinaryStanzaCodec:
    """Wire encoding v1. Stateless and thread-safe."""

    name = "isb1"

    def __init__(self, tokens: tuple[str, ...] = TOKENS_V1) -> None:
        self._tokens = tokens
        self._token_index = (TOKEN_INDEX_V1 if tokens is TOKENS_V1
                             else {token: index for index, token in enumerate(tokens)})

    def encode(self, node: Node) -> bytes:
        writer = _Writer(self._token_index)
        writer.node(node, 0)
        return bytes(writer.out)

    def decode(self, data: bytes) -> Node:
        reader = _Reader(data, self._tokens)
        node = reader.node(0)
        if reader.pos != len(reader.data):
            raise CodecError("trailing bytes after stanza")
        return node

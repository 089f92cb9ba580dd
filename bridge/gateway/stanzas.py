"""Builders and parsers for the stanzas of docs/gateway-protocol.md §7 (pure functions).

The connection and the rest of the bridge use these instead of assembling nodes by hand, so the
stanza shapes live in one place next to the spec.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .codec import Node
from .errors import ErrorInfo, ProtocolViolation
from .ids import Address, StanzaId

EncType = Literal["pkmsg", "msg", "skmsg"]
MessageType = Literal["text", "media", "reaction"]
#: Stanza classes the gateway keeps in the mailbox until acked (§9).
ACKED_CLASSES = frozenset({"message", "receipt", "notification"})


def new_stanza_id() -> StanzaId:
    """16 hex characters: 64 random bits, unique enough per sender."""
    return StanzaId(secrets.token_hex(8).upper())


def message(stanza_id: StanzaId, to: Address, enc_type: EncType, ciphertext: bytes,
            message_type: MessageType = "text", retry_count: int | None = None) -> Node:
    enc_attrs = {"v": "2", "type": enc_type}
    if retry_count is not None:
        enc_attrs["count"] = str(retry_count)
    return Node("message", {"id": stanza_id, "to": to, "type": message_type},
                [Node("enc", enc_attrs, ciphertext)])


def receipt(message_id: StanzaId, to: Address, receipt_type: Literal["delivery", "read"] =
            "delivery", more_ids: Iterable[StanzaId] = (), t: int | None = None) -> Node:
    attrs: dict[str, str] = {"id": message_id, "to": to}
    if receipt_type == "read":
        attrs["type"] = "read"
    if t is not None:
        attrs["t"] = str(t)
    extra = [Node("item", {"id": other}) for other in more_ids]
    return Node("receipt", attrs, [Node("list", {}, extra)] if extra else None)


def retry_receipt(message_id: StanzaId, to: Address, count: int, original_t: int,
                  registration_id: int, t: int, keys: Node | None = None) -> Node:
    children = [
        Node("retry", {"count": str(count), "id": message_id, "t": str(original_t), "v": "1"}),
        Node("registration", {}, registration_id.to_bytes(4, "big")),
    ]
    if keys is not None:
        children.append(keys)
    return Node("receipt", {"id": message_id, "to": to, "type": "retry", "t": str(t)}, children)


def chatstate(to: Address, state: Literal["composing", "paused"]) -> Node:
    return Node("chatstate", {"to": to}, [Node(state)])


def iq(stanza_id: StanzaId, iq_type: Literal["get", "set"], xmlns: str,
       children: list[Node] | None = None) -> Node:
    return Node("iq", {"id": stanza_id, "type": iq_type, "xmlns": xmlns}, children)


def ping(stanza_id: StanzaId) -> Node:
    return iq(stanza_id, "get", "ping")


#: Longest ``notify`` name a client accepts (§7.1).
MAX_NOTIFY_LENGTH = 256


def sender_username(node: Node) -> str | None:
    """The sender's user-visible name on a delivered ``message`` (§7.1 ``notify``).

    None when absent, empty, over 256 characters or not printable (control characters, line
    breaks): the name ends up as a display name, so anything odd is dropped rather than shown.
    """
    if node.tag != "message":
        return None
    name = node.attrs.get("notify", "")
    if not name or len(name) > MAX_NOTIFY_LENGTH or not name.isprintable():
        return None
    return name


def ack_for(node: Node) -> Node:
    """The client's ack of a delivered message, receipt or notification (§7.5)."""
    if node.tag not in ACKED_CLASSES:
        raise ProtocolViolation(f"{node.tag} is not acked")
    try:
        attrs = {"class": node.tag, "id": node.attrs["id"], "to": node.attrs["from"]}
    except KeyError as exc:
        raise ProtocolViolation(f"{node.tag} without id or from") from exc
    if "type" in node.attrs and node.tag == "receipt":
        attrs["type"] = node.attrs["type"]
    return Node("ack", attrs)


@dataclass(frozen=True, slots=True)
class ServerAck:
    """The gateway's ack of something we sent; ``error`` set when it was refused for good (or
    for now, for 429/503)."""

    stanza_class: str
    stanza_id: StanzaId
    ack_type: str | None
    error: ErrorInfo | None


def parse_server_ack(node: Node) -> ServerAck:
    if node.tag != "ack" or "id" not in node.attrs:
        raise ProtocolViolation("not an ack")
    error_node = node.child("error")
    return ServerAck(node.attrs.get("class", "message"), StanzaId(node.attrs["id"]),
                     node.attrs.get("type"),
                     ErrorInfo.from_node(error_node) if error_node is not None else None)


def iq_error(node: Node) -> ErrorInfo | None:
    """The error of an ``iq type="error"`` answer, or None for a result."""
    if node.attrs.get("type") != "error":
        return None
    error_node = node.child("error")
    return ErrorInfo.from_node(error_node) if error_node is not None else ErrorInfo(400)


def outbox_key(node: Node) -> tuple[str, str, str | None]:
    """How a stanza we sent is matched with the gateway's ack: (class, id, type)."""
    receipt_type = node.attrs.get("type") if node.tag == "receipt" else None
    return node.tag, node.attrs["id"], receipt_type


def server_ack_key(ack: ServerAck) -> tuple[str, str, str | None]:
    return ack.stanza_class, ack.stanza_id, ack.ack_type if ack.stanza_class == "receipt" else None

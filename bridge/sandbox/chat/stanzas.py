"""Builders and small parsers for the stanzas the gateway sends (protocol §7), pure functions."""

from __future__ import annotations

from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import SERVER_ADDRESS

MAX_STANZA_ID_LENGTH = 64


class StanzaRejected(Exception):
    """A stanza the gateway answers with an error (the connection stays open)."""

    def __init__(self, code: ErrorCode, text: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{int(code)} {text}")
        self.info = ErrorInfo(code, text, retry_after)


def error_node(info: ErrorInfo) -> Node:
    return Node("error", info.to_attrs())


def iq_result(iq_id: str, content: list[Node] | None = None) -> Node:
    return Node("iq", {"id": iq_id, "type": "result", "from": SERVER_ADDRESS}, content)


def iq_error(iq_id: str, info: ErrorInfo) -> Node:
    return Node("iq", {"id": iq_id, "type": "error", "from": SERVER_ADDRESS}, [error_node(info)])


def send_ack(ack_class: str, stanza_id: str, now: int, *, stanza_type: str = "",
             error: ErrorInfo | None = None) -> Node:
    """The gateway's ack of a client's message or receipt."""
    attrs = {"class": ack_class, "id": stanza_id, "t": str(now)}
    if stanza_type:
        attrs["type"] = stanza_type
    return Node("ack", attrs, [error_node(error)] if error else None)


def notification(notification_id: str, notification_type: str, sender: str, now: int,
                 content: list[Node] | None = None) -> Node:
    return Node("notification", {"id": notification_id, "type": notification_type,
                                 "from": sender, "t": str(now)}, content)


def ib(child: Node) -> Node:
    return Node("ib", {}, [child])


def valid_stanza_id(value: str | None) -> bool:
    return (value is not None and 0 < len(value) <= MAX_STANZA_ID_LENGTH
            and all(33 <= ord(c) <= 126 for c in value))


def require_id(node: Node) -> str:
    stanza_id = node.attrs.get("id")
    if not valid_stanza_id(stanza_id):
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "missing or invalid id")
    return stanza_id  # type: ignore[return-value]


def bytes_child(node: Node, tag: str, length: int | None = None) -> bytes | None:
    """The raw bytes of child ``tag`` (None if absent); wrong length → 400."""
    child = node.child(tag)
    if child is None:
        return None
    data = child.data
    if data is None or (length is not None and len(data) != length):
        raise StanzaRejected(ErrorCode.BAD_REQUEST, f"{tag} must be {length} bytes")
    return data

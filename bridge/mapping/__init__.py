"""Mapping message content between Matrix events and the gateway's content models.

- `MatrixToGateway.map_event(event, portal)` → `GatewayMessage` or `Unmappable(reason)`
- `GatewayToMatrix.map_content(content, sender, stanza_id, portal)`
  → `[SendEvent | Redact | Notice]`

Both take their I/O (media repositories, message ids, mention lookups) as
injected Protocols (`interfaces`) and keep no state. See docs/message-mapping.md.
"""

from .errors import TooLargeToSend, Unmappable
from .interfaces import (
    BridgedMessage,
    BridgedReaction,
    GatewayMedia,
    MatrixMedia,
    MessageIds,
    MessageRecord,
    PortalInfo,
    QuotedText,
)
from .results import GatewayMessage, MatrixAction, Notice, Redact, SendEvent
from .to_gateway import MatrixToGateway
from .to_matrix import GatewayToMatrix, unreadable_notice, unsupported_notice

__all__ = [
    "BridgedMessage",
    "BridgedReaction",
    "GatewayMedia",
    "GatewayMessage",
    "GatewayToMatrix",
    "MatrixAction",
    "MatrixMedia",
    "MatrixToGateway",
    "MessageIds",
    "MessageRecord",
    "Notice",
    "PortalInfo",
    "QuotedText",
    "Redact",
    "SendEvent",
    "TooLargeToSend",
    "Unmappable",
    "unreadable_notice",
    "unsupported_notice",
]

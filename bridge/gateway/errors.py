"""Error codes of the gateway protocol (docs/gateway-protocol.md, "Error codes") and the typed
exceptions the client raises for them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from .codec.errors import WireError
from .codec.node import Node


class ErrorCode(IntEnum):
    BAD_REQUEST = 400
    NOT_AUTHORIZED = 401  # not enlisted, bad token, wrong Noise key, un-enlisted after 30 days
    NOT_OPTED_IN = 403  # the addressed user has not opted in to interoperability
    UNKNOWN_USER = 404
    VERSION_UNSUPPORTED = 406
    BLOCKED = 409  # the recipient blocked the sender (or the sender blocked the recipient)
    TOO_LARGE = 413
    RATE_LIMITED = 429  # carries retry-after (seconds)
    CONNECTION_REPLACED = 440  # a newer connection for the same login took over
    INTERNAL = 500
    UNAVAILABLE = 503  # may carry retry-after (seconds)

    @classmethod
    def parse(cls, value: str) -> ErrorCode | int:
        """Known codes as members; unknown numeric codes stay plain ints (forward compatible)."""
        number = int(value)
        try:
            return cls(number)
        except ValueError:
            return number


#: Codes after which reconnecting later can succeed without the user doing anything.
TRANSIENT_CODES = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})


#: The longest ``retry-after`` a gateway may ask for; anything longer (``inf`` included) is read
#: as this. An hour: the framework's gateways ask for seconds to minutes.
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The ``code``/``text``/``retry-after`` triple every error-carrying element has."""

    code: ErrorCode | int
    text: str = ""
    retry_after: float | None = None

    @classmethod
    def from_node(cls, node: Node) -> ErrorInfo:
        """Parse the attributes of an ``error``, ``failure`` or ``stream-error`` element."""
        try:
            code = ErrorCode.parse(node.attrs.get("code", ""))
        except ValueError:
            code = ErrorCode.BAD_REQUEST
        retry_after: float | None = None
        if "retry-after" in node.attrs:
            try:
                retry_after = float(node.attrs["retry-after"])
            except ValueError:
                retry_after = None
            if retry_after is not None and math.isnan(retry_after):
                retry_after = None  # not a number: as if the gateway had not said
            elif retry_after is not None:
                # "inf", "1e300" or a negative value must not become the wait.
                retry_after = min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        return cls(code, node.attrs.get("text", ""), retry_after)

    def to_attrs(self) -> dict[str, str]:
        attrs = {"code": str(int(self.code))}
        if self.text:
            attrs["text"] = self.text
        if self.retry_after is not None:
            seconds = self.retry_after
            attrs["retry-after"] = str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"
        return attrs

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


class GatewayError(Exception):
    """The gateway answered with a protocol error."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(f"{int(info.code)} {info.text}".strip())
        self.info = info

    @property
    def code(self) -> ErrorCode | int:
        return self.info.code


class HandshakeError(WireError):
    """The Noise handshake failed (bad bytes, authentication failure, wrong server key)."""


class ServerKeyMismatch(HandshakeError):
    """The server's Noise static key is not the pinned gatekeeper key: not our gateway."""


class ProtocolViolation(WireError):
    """The peer sent a well-formed stanza at a point where the protocol does not allow it."""

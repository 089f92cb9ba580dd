"""The token dictionary of the v1 binary stanza encoding.

The order is part of the wire format (docs/gateway-protocol.md, "Token dictionary"): an entry's
position is its token number. Append only; never reorder or remove within a protocol version.
"""

from __future__ import annotations

TOKENS_V1: tuple[str, ...] = (
    # 0-9: stanza tags
    "message", "iq", "receipt", "ack", "notification", "ib", "chatstate", "enc", "hello",
    "success",
    # 10-19: handshake, errors
    "failure", "stream-error", "error", "id", "to", "from", "type", "t", "v", "xmlns",
    # 20-29
    "get", "set", "result", "code", "text", "class", "pkmsg", "msg", "skmsg", "read",
    # 30-39
    "retry", "count", "encrypt", "key", "identity", "registration", "skey", "signature", "list",
    "user",
    # 40-49
    "blocklist", "item", "action", "block", "unblock", "deletion", "delete", "reachability",
    "lookup", "username",
    # 50-59
    "composing", "paused", "offline", "mailbox", "login", "token", "ip", "ping", "keytype",
    "value",
    # 60-69
    "reason", "retry-after", "jid", "s.interop", "low-prekeys", "identity-change", "opt-out",
    "media", "reaction", "participant",
    # 70-79
    "versions", "keys", "status", "opted-in", "true", "false", "edit", "revoke", "delivery",
    "notice",
)

TOKEN_INDEX_V1: dict[str, int] = {token: index for index, token in enumerate(TOKENS_V1)}
assert len(TOKEN_INDEX_V1) == len(TOKENS_V1), "duplicate token in the v1 dictionary"

"""Resolvers over a fixed directory of users, as the bridge's tables would give."""

from __future__ import annotations

from mautrix.types import UserID

from bridge.content import Address
from bridge.formatting import MatrixMention, RemoteMention

# internal id → (ghost mxid, display name, username)
DIRECTORY = {
    Address("1-100@interop"): (UserID("@wa_1-100:example.org"), "Alice Liddell", "alice"),
    Address("1-200@interop"): (UserID("@wa_1-200:example.org"), "Bob", "bob_smith"),
    Address("1-300@interop"): (UserID("@wa_1-300:example.org"), "Bobby", "bobby"),
    # A hostile remote profile: markup and HTML in every field.
    Address("1-666@interop"): (
        UserID('@wa_1-666:example.org'), '<img src=x onerror="alert(1)">', 'x"><b>'
    ),
}
BY_MXID = {mxid: (internal_id, username) for internal_id, (mxid, _, username) in DIRECTORY.items()}


def to_matrix(internal_id: Address) -> MatrixMention | None:
    entry = DIRECTORY.get(internal_id)
    return None if entry is None else MatrixMention(*entry)


def to_remote(user_id: UserID) -> RemoteMention | None:
    entry = BY_MXID.get(user_id)
    return None if entry is None else RemoteMention(*entry)


async def to_remote_async(user_id: UserID) -> RemoteMention | None:
    return to_remote(user_id)

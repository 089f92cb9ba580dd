"""Typed identifiers used on the gateway wire (all plain strings underneath)."""

from __future__ import annotations

from typing import NewType

#: Address of any user on the chat channel: a partner user's internal id or a gatekeeper user's id.
#: The one type for a contact, a sender or a mentioned user across the bridge.
Address = NewType("Address", str)
#: Internal id assigned by the gatekeeper to a partner user at enlistment,
#: ``{integrator_id}-{number}@interop``: the partner user's own address.
InternalId = NewType("InternalId", Address)
#: The user-visible identifier the partner server asserts in its identity JWT (e.g. a username).
UserVisibleId = NewType("UserVisibleId", str)
#: Stanza id chosen by the sender; unique per (sender, stanza class).
StanzaId = NewType("StanzaId", str)
#: Reference of encrypted media hosted by the partner server.
StorageReference = NewType("StorageReference", str)
#: Reference of encrypted media hosted by the gatekeeper's media server.
FileReference = NewType("FileReference", str)

#: The address the gatekeeper's own server uses in ``from`` of server-originated stanzas.
SERVER_ADDRESS = Address("s.interop")


def internal_id(value: str) -> InternalId:
    """A partner user's internal id read from the wire or a database row."""
    return InternalId(Address(value))

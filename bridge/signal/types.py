"""Typed identifiers of the Signal layer."""

from __future__ import annotations

from typing import NewType

# The Matrix user id of the bridged user who owns a Signal identity (the per-user key of every
# row): the same id the trust boundary is keyed by.
from ..trust.types import UserId

__all__ = ["GroupId", "PeerId", "PreKeyId", "RegistrationId", "SignedPreKeyId", "UserId"]

#: The address of a remote party, e.g. the gateway's internal id of a gatekeeper user.
PeerId = NewType("PeerId", str)
#: A group's id for sender keys.
GroupId = NewType("GroupId", str)
#: One-time prekey id: 3 bytes on the wire, allocated from 1.
PreKeyId = NewType("PreKeyId", int)
#: Signed prekey id: 3 bytes on the wire.
SignedPreKeyId = NewType("SignedPreKeyId", int)
#: 14-bit registration id of an installation.
RegistrationId = NewType("RegistrationId", int)

"""Typed identifiers of the Signal layer."""

from __future__ import annotations

from typing import NewType

# A remote party is known by its gateway address (``gateway/ids.py``), the one type for a
# contact across the bridge.
from ..gateway.ids import Address

# The Matrix user id of the bridged user who owns a Signal identity (the per-user key of every
# row): the same id the trust boundary is keyed by.
from ..trust.types import UserId

__all__ = ["Address", "GroupId", "PreKeyId", "RegistrationId", "SignedPreKeyId", "UserId"]

#: A group's id for sender keys.
GroupId = NewType("GroupId", str)
#: One-time prekey id: 3 bytes on the wire, allocated from 1.
PreKeyId = NewType("PreKeyId", int)
#: Signed prekey id: 3 bytes on the wire.
SignedPreKeyId = NewType("SignedPreKeyId", int)
#: 14-bit registration id of an installation.
RegistrationId = NewType("RegistrationId", int)

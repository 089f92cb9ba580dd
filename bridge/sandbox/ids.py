"""Typed identifiers used across the sandbox gateway."""

from __future__ import annotations

from typing import NewType

# ``{integrator_id}-{number}@interop``: assigned to a partner user at enlistment.
InternalId = NewType("InternalId", str)
# The partner user's user-visible identifier (the identity JWT's ``sub``).
VisibleId = NewType("VisibleId", str)
# A simulated gatekeeper user's username (what a partner user addresses).
GatekeeperUsername = NewType("GatekeeperUsername", str)
# The integrator id the sandbox was started with (prefix of every internal id).
IntegratorId = NewType("IntegratorId", str)
# A media file reference handed out by the media server (``/v/t{file_reference}``).
FileReference = NewType("FileReference", str)

INTEROP_SUFFIX = "@interop"


def make_internal_id(integrator: IntegratorId, number: int) -> InternalId:
    return InternalId(f"{integrator}-{number}{INTEROP_SUFFIX}")


def is_internal_id(address: str) -> bool:
    return address.endswith(INTEROP_SUFFIX)

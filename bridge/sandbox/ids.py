"""Typed identifiers used across the sandbox gateway."""

from __future__ import annotations

from typing import NewType

# The wire's identifiers are the bridge's own (one type per concept on both sides of the wire).
from bridge.gateway.ids import Address, InternalId, UserVisibleId, internal_id

__all__ = ["Address", "GatekeeperUsername", "IntegratorId", "InternalId",
           "UserVisibleId", "is_internal_id", "make_internal_id"]

# A simulated gatekeeper user's username (what a partner user addresses).
GatekeeperUsername = NewType("GatekeeperUsername", str)
# The integrator id the sandbox was started with (prefix of every internal id).
IntegratorId = NewType("IntegratorId", str)

INTEROP_SUFFIX = "@interop"


def make_internal_id(integrator: IntegratorId, number: int) -> InternalId:
    return internal_id(f"{integrator}-{number}{INTEROP_SUFFIX}")


def is_internal_id(address: str) -> bool:
    return address.endswith(INTEROP_SUFFIX)

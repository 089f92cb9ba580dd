"""Blocking a contact: at the gateway, in a pending message request, and in their portal.

One place for it, used by the `block`/`unblock` commands, the provisioning API and reporting
alike. Gateway errors (``GatewayError``, ``ConnectionUnavailable``) reach the caller untouched,
before anything changes locally.
"""

from __future__ import annotations

from mautrix.types import UserID

from ..gateway.ids import Address
from ..matrix.portals import Portals
from ..partner.client import PartnerClient
from .contact_signals import blocked_notice
from .requests import MessageRequests, RequestState


async def set_blocked(*, client: PartnerClient, portals: Portals,
                      requests: MessageRequests | None, user: UserID, address: Address,
                      username: str, blocked: bool) -> None:
    await client.requests.set_blocked(address, blocked)
    await blocked_locally(client=client, portals=portals, requests=requests, user=user,
                          address=address, username=username, blocked=blocked)


async def blocked_locally(*, client: PartnerClient, portals: Portals,
                          requests: MessageRequests | None, user: UserID, address: Address,
                          username: str, blocked: bool) -> None:
    """What follows a block the gateway has applied (by a blocklist request, or with a
    report): the pending request is refused, the portal is marked and told."""
    if blocked and requests is not None:
        request = await requests.get(user, address)
        if request is not None and request.state == RequestState.PENDING:
            # A refused request never comes back, and what it held is dropped.
            await requests.settle(user, address, RequestState.BLOCKED)
            await client.drop_undelivered_from(address)
    portal = await portals.get(user, address)
    if portal is not None:
        await portal.set_blocked(blocked)
        await portal.send_notice(blocked_notice(username, blocked))

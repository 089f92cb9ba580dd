"""Publishing a user's prekeys to the gateway, and topping the pool up when it runs low."""

from __future__ import annotations

from ..gateway.client_api import GatewayRequests
from ..gateway.requests import OneTimePreKey, SignedPreKey
from ..signal.party import SignalParty
from ..storage import Database, acquire, transaction


class PrekeyPublisher:
    def __init__(self, db: Database, party: SignalParty, requests: GatewayRequests) -> None:
        self.db, self.party, self.requests = db, party, requests

    async def publish(self) -> None:
        """Upload the identity, the current signed prekey and the unused one-time prekeys."""
        async with acquire(self.db) as conn:
            bundle = await self.party.bundle(conn)
        await self.requests.upload_prekeys(
            [OneTimePreKey(key_id, public) for key_id, public in bundle.pre_keys],
            registration_id=bundle.registration_id, identity=bundle.identity_key,
            signed_prekey=SignedPreKey(bundle.signed_pre_key_id, bundle.signed_pre_key,
                                       bundle.signed_pre_key_signature),
        )

    async def refill(self) -> None:
        """The gateway says our one-time prekeys run low: top up the pool and publish it."""
        async with acquire(self.db) as conn, transaction(conn):
            await self.party.maintain_keys(conn)
        await self.publish()

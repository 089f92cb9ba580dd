"""Signal sessions with a user's contacts, started from prekey bundles the gateway hands out."""

from __future__ import annotations

import asyncio

from ..gateway.client_api import GatewayRequests
from ..gateway.errors import ErrorInfo
from ..gateway.ids import Address
from ..gateway.requests import PreKeyBundle
from ..signal.agreement import PeerBundle
from ..signal.errors import IdentityChange
from ..signal.party import SignalParty
from ..storage import Database, acquire, transaction


class BundleUnavailable(Exception):
    def __init__(self, peer: Address, error: ErrorInfo | None) -> None:
        super().__init__(f"no prekey bundle for {peer}: {error}")
        self.peer = peer
        self.error = error


class ContactSessions:
    def __init__(self, db: Database, party: SignalParty, requests: GatewayRequests) -> None:
        self.db, self.party, self.requests = db, party, requests
        # Encrypting and decrypting both rewrite the sealed session row: one at a time, or two
        # overlapping transactions each write back their own copy and one ratchet step is lost
        # (PostgreSQL does not serialise them for us).
        self.lock = asyncio.Lock()

    async def ensure(self, peer: Address) -> IdentityChange | None:
        """A trusted session with ``peer``, started from a fresh bundle if there is none."""
        async with acquire(self.db) as conn:
            if await self.party.has_trusted_session(conn, peer):
                return None
        return await self.renew(peer)

    async def renew(self, peer: Address) -> IdentityChange | None:
        """A new session with ``peer`` from their current bundle; the change of their identity
        key, if it changed."""
        bundles = await self.requests.fetch_bundles([peer])
        bundle = bundles.get(peer)
        if isinstance(bundle, ErrorInfo) or bundle is None:
            raise BundleUnavailable(peer, bundle)
        async with acquire(self.db) as conn, transaction(conn):
            return await self.party.process_bundle(conn, peer, peer_bundle(bundle))


def peer_bundle(bundle: PreKeyBundle) -> PeerBundle:
    one_time = bundle.one_time_prekey
    return PeerBundle(
        registration_id=bundle.registration_id,
        identity_key=bundle.identity,
        signed_pre_key_id=bundle.signed_prekey.key_id,
        signed_pre_key=bundle.signed_prekey.public,
        signed_pre_key_signature=bundle.signed_prekey.signature,
        pre_key_id=one_time.key_id if one_time else None,
        pre_key=one_time.public if one_time else None,
        device_id=1,
    )

"""In-process parties on a real database, for storage-backed tests."""

from __future__ import annotations

from bridge.signal.agreement import PeerBundle
from bridge.signal.party import PublishedBundle, SignalParty


def peer_bundle(published: PublishedBundle, use_pre_key: bool = True) -> PeerBundle:
    pre_key_id, pre_key = published.pre_keys[0] if use_pre_key else (None, None)
    return PeerBundle(published.registration_id, published.device_id, published.identity_key,
                      published.signed_pre_key_id, published.signed_pre_key,
                      published.signed_pre_key_signature, pre_key_id, pre_key)


async def start_session(db, alice: SignalParty, bob: SignalParty, *, alice_name="alice",
                        bob_name="bob", use_pre_key=True) -> None:
    """Both parties get identities; alice starts a session from bob's bundle."""
    async with db.acquire() as conn, conn.transaction():
        await alice.ensure_identity(conn, pre_key_count=5)
        await bob.ensure_identity(conn, pre_key_count=5)
        bundle = await bob.bundle(conn)
        await alice.process_bundle(conn, bob_name, peer_bundle(bundle, use_pre_key))

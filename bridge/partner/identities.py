"""Contacts whose identity key changed: accepted with a notice, or held until the user confirms
the new key (policy ``block``), and told to the user once per new key."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..gateway.client_api import GatewayRequests
from ..gateway.connection import ConnectionUnavailable
from ..gateway.errors import ErrorInfo, GatewayError
from ..gateway.ids import Address
from ..signal.errors import IdentityChange
from ..signal.party import SignalParty, fingerprint
from ..storage import Database, acquire, transaction
from .events import IdentityChanged
from .identity_holds import IdentityHolds
from .sessions import ContactSessions, peer_bundle


class ContactIdentities:
    def __init__(self, *, db: Database, party: SignalParty, holds: IdentityHolds,
                 sessions: ContactSessions, requests: GatewayRequests,
                 publish: Callable[[IdentityChanged], Awaitable[None]],
                 log: logging.Logger) -> None:
        self.db, self.party, self.holds = db, party, holds
        self.sessions, self.requests = sessions, requests
        self._publish = publish
        self.log = log

    async def changed(self, peer: Address, change: IdentityChange, *, held: bool) -> None:
        """Record a hold (policy block) and tell the user, once per new key."""
        if held and not await self.holds.hold(peer, change.new_identity_key):
            return  # held for this very key already; the user was told
        try:
            await self._publish(IdentityChanged(peer, change, held))
        except Exception:
            # The hold is stored; a failed notice must not make the gateway redeliver.
            self.log.exception("Could not post the security notice about %s", peer)

    async def check_notification(self, peer: Address) -> bool:
        """The gateway says ``peer``'s identity key changed: fetch their bundle to learn the new
        key. Policy notice: start a session with it (the notice names both keys). Policy block:
        hold the contact until the user confirms it. False when the key could not be fetched."""
        try:
            bundles = await self.requests.fetch_bundles([peer])
        except (GatewayError, ConnectionUnavailable) as e:
            self.log.warning("Could not fetch the new keys of %s: %s", peer, e)
            return False
        bundle = bundles.get(peer)
        if isinstance(bundle, ErrorInfo) or bundle is None:
            return False
        async with self.sessions.lock:
            async with acquire(self.db) as conn:
                trusted = await self.party.trusted_identity(conn, peer)
            if trusted is None or trusted == bundle.identity:
                return True  # never talked, or already seen (and told) through a message
            change: IdentityChange | None
            if not self.party.accept_identity_changes:
                change = IdentityChange(peer, fingerprint(trusted),
                                        fingerprint(bundle.identity),
                                        previous_identity_key=trusted,
                                        new_identity_key=bundle.identity)
                held = True
            else:
                async with acquire(self.db) as conn, transaction(conn):
                    change = await self.party.process_bundle(conn, peer,
                                                             peer_bundle(bundle))
                held = False
        if change is not None:
            await self.changed(peer, change, held=held)
        return True

"""The enlistment server's logic: check a request, assign or keep the internal id, store keys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bridge.gateway.jwks_client import JwksCache

from .clock import Clock, millis
from .enlistment import EnlistmentRefused, Reason, parse_keys, token_field
from .ids import IntegratorId, InternalId, UserVisibleId, make_internal_id
from .storage.partners import PartnerStore, PartnerUser, SignedPrekey
from .storage.state import StateStore
from .tokens import unverified_issuer, verify_identity_token

log = logging.getLogger("bridge.sandbox.enlistment")

NEXT_NUMBER_KEY = "next_internal_number"


@dataclass(frozen=True)
class Enlisted:
    internal_id: InternalId
    visible_id: UserVisibleId
    new: bool
    identity_changed: bool
    noise_key_changed: bool


# Called after a re-enlistment replaced keys, so the chat server can notify peers / drop sessions.
ReenlistHook = Callable[[Enlisted], Awaitable[None]]


class Enlister:
    def __init__(self, *, integrator_id: str, partner_issuer: str, audience: str,
                 partners: PartnerStore, state: StateStore, keys: JwksCache,
                 clock: Clock) -> None:
        self.integrator_id = IntegratorId(integrator_id)
        self.partner_issuer = partner_issuer
        self.audience = audience
        self.partners = partners
        self.state = state
        self.keys = keys
        self.clock = clock
        self.on_reenlisted: ReenlistHook | None = None
        # Enlistments of the same user-visible id must not interleave (two ids for one person).
        self._lock = asyncio.Lock()

    async def enlist(self, form: Mapping[str, str]) -> Enlisted:
        token = token_field(form)
        # The sandbox serves one integrator: its partner is recognised by the token's issuer.
        if unverified_issuer(token) != self.partner_issuer:
            raise EnlistmentRefused(Reason.BAD_INTEGRATOR, "token issuer is not a known partner")
        keys = parse_keys(form)
        claims = await verify_identity_token(token, self.keys, issuer=self.partner_issuer,
                                             audience=self.audience, now=self.clock.now())
        visible_id = UserVisibleId(claims.subject)
        now = millis(self.clock)
        async with self._lock:
            existing = await self.partners.get_by_visible_id(visible_id)
            owners = await self.partners.visible_ids_with_noise_key(keys.noise_key)
            if any(owner != visible_id for owner in owners):
                raise EnlistmentRefused(Reason.BAD_KEYS, "authkey belongs to another user")
            if existing is not None:
                internal_id = existing.internal_id
            else:
                number = await self.state.next_counter(NEXT_NUMBER_KEY)
                internal_id = make_internal_id(self.integrator_id, number)
            user = PartnerUser(
                internal_id=internal_id, visible_id=visible_id, noise_key=keys.noise_key,
                registration_id=keys.registration_id, identity_key=keys.identity_key,
                signed_prekey=SignedPrekey(keys.signed_prekey_id, keys.signed_prekey,
                                           keys.signed_prekey_signature),
                enlisted_at=now, last_seen_at=now,
            )
            await self.partners.upsert(user)
        result = Enlisted(
            internal_id, visible_id, new=existing is None,
            identity_changed=existing is not None and existing.identity_key != keys.identity_key,
            noise_key_changed=existing is not None and existing.noise_key != keys.noise_key,
        )
        log.getChild(internal_id).info("Enlisted (%s)", "new" if result.new else "re-enlisted")
        if not result.new and self.on_reenlisted is not None:
            await self.on_reenlisted(result)
        return result

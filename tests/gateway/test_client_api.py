"""Typed requests over a live loopback connection, and identity-token caching."""

from __future__ import annotations

import pytest

from bridge.gateway.client_api import GatewayRequests
from bridge.gateway.errors import ErrorCode, GatewayError
from bridge.gateway.identity import IdentityTokenIssuer
from bridge.gateway.ids import Address, UserVisibleId
from bridge.gateway.requests import OneTimePreKey
from bridge.gateway.tokens import SigningKey, jwks_document, verify_token

from .fake_gateway import wait_for
from .support import CONTACT, make_connection


async def test_requests_round_trip_and_errors_are_typed(gateway, http) -> None:
    connection, _, _ = make_connection(gateway, http)
    api = GatewayRequests(connection)
    gateway.usernames["bob"] = CONTACT
    found = await api.lookup_username("bob")
    assert (found.address, found.opted_in) == (CONTACT, True)
    with pytest.raises(GatewayError) as caught:
        await api.lookup_username("nobody")
    assert caught.value.code == ErrorCode.UNKNOWN_USER
    await api.upload_prekeys([OneTimePreKey(1, b"\x01" * 32)])
    await api.ping_reachability(Address("someone@gk"))
    await api.send_chatstate(CONTACT, composing=True)
    await wait_for(lambda: any(n.tag == "chatstate" for _, n in gateway.received))
    sent = [n.attrs.get("xmlns") for _, n in gateway.received if n.tag == "iq"]
    assert sent == ["encrypt", "reachability"]
    await connection.close()


def test_identity_tokens_are_cached_until_near_expiry() -> None:
    key = SigningKey.generate("ES256")
    clock = [1_800_000_000.0]
    issuer = IdentityTokenIssuer(key, partner_base="https://p", gateway_audience="gw",
                                 lifetime_seconds=3600, min_remaining=300,
                                 clock=lambda: clock[0])
    alice = UserVisibleId("alice")
    first = issuer.token_for(alice)
    assert issuer.token_for(alice) == first
    clock[0] += 3600 - 299
    renewed = issuer.token_for(alice)
    assert renewed != first
    claims = verify_token(renewed, jwks_document([key]), issuer="https://p", audience="gw",
                          now=clock[0])
    assert claims["sub"] == "alice"

"""Admission checks of a hello, run by an in-memory server built from ServerChannel."""

from __future__ import annotations

import pytest

from bridge.gateway.errors import ErrorCode
from bridge.gateway.hello_auth import EnlistedClient, HelloRefused, authenticate_hello
from bridge.gateway.ids import InternalId, UserVisibleId
from bridge.gateway.noise_channel import (
    ChannelOpened,
    ChannelRefused,
    ClientChannel,
    ClientHello,
    HelloReceived,
    ServerChannel,
    generate_static_private,
    static_public_from_private,
)
from bridge.gateway.tokens import SigningKey, issue_identity_token, jwks_document

SERVER = generate_static_private()
CLIENT = generate_static_private()
PARTNER_KEY = SigningKey.generate("ES256")
LOGIN = InternalId("3-77@interop")
BASE = "https://partner.example"
NOW = 1_800_000_000


def token(subject: str = "alice", key: SigningKey = PARTNER_KEY, now: int = NOW) -> str:
    return issue_identity_token(key, partner_base=BASE, user_visible_id=subject,
                                gateway_audience="gw", now=now)


async def admit(hello: ClientHello, *, client_key: bytes = CLIENT, enlisted_key: bytes = CLIENT,
                enlisted: bool = True):
    client = ClientChannel(static_private=client_key,
                           server_static_public=static_public_from_private(SERVER), hello=hello)
    server = ServerChannel(static_private=SERVER)
    out, _ = server.receive(client.start())
    out, _ = client.receive(out)
    _, events = server.receive(out)
    (event,) = events
    assert isinstance(event, HelloReceived)

    async def lookup(login: InternalId):
        if not enlisted or login != LOGIN:
            return None
        return EnlistedClient(LOGIN, static_public_from_private(enlisted_key),
                              UserVisibleId("alice"), BASE)

    async def jwks(base: str):
        return jwks_document([PARTNER_KEY])

    try:
        await authenticate_hello(event, lookup_enlisted=lookup, fetch_partner_jwks=jwks,
                                 gateway_audience="gw", now=NOW)
    except HelloRefused as refused:
        _, client_events = client.receive(server.refuse(refused.error, refused.extra_attrs))
        (refusal,) = client_events
        assert isinstance(refusal, ChannelRefused)
        return refusal.error
    _, client_events = client.receive(server.accept())
    assert isinstance(client_events[0], ChannelOpened)
    return None


async def test_good_hello_admitted() -> None:
    assert await admit(ClientHello(1, LOGIN, token())) is None


@pytest.mark.parametrize("case,code,text", [
    ("version", ErrorCode.VERSION_UNSUPPORTED, "supported"),
    ("not-enlisted", ErrorCode.NOT_AUTHORIZED, "not enlisted"),
    ("other-noise-key", ErrorCode.NOT_AUTHORIZED, "authkey"),
    ("expired", ErrorCode.NOT_AUTHORIZED, "expired"),
    ("foreign-signer", ErrorCode.NOT_AUTHORIZED, "bad token"),
    ("other-subject", ErrorCode.NOT_AUTHORIZED, "subject"),
    ("garbage-token", ErrorCode.NOT_AUTHORIZED, "bad token"),
])
async def test_bad_hellos_refused_with_documented_codes(case: str, code: ErrorCode,
                                                        text: str) -> None:
    hello = ClientHello(1, LOGIN, token())
    kwargs: dict = {}
    if case == "version":
        hello = ClientHello(9, LOGIN, token())
    elif case == "not-enlisted":
        kwargs["enlisted"] = False
    elif case == "other-noise-key":
        kwargs["enlisted_key"] = generate_static_private()
    elif case == "expired":
        hello = ClientHello(1, LOGIN, token(now=NOW - 7200))
    elif case == "foreign-signer":
        hello = ClientHello(1, LOGIN, token(key=SigningKey.generate("ES256")))
    elif case == "other-subject":
        hello = ClientHello(1, LOGIN, token(subject="mallory"))
    elif case == "garbage-token":
        hello = ClientHello(1, LOGIN, "not-a-jwt")
    error = await admit(hello, **kwargs)
    assert error is not None and error.code == code and text in error.text

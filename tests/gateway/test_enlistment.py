"""Enlistment client: the form it builds and the replies it understands, against a real
loopback HTTP endpoint that decodes the form as the spec says."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from aiohttp import web

from bridge.gateway.enlistment import (
    EnlistmentError,
    EnlistmentKeys,
    build_enlistment_form,
    enlist,
    parse_enlistment_reply,
)
from bridge.gateway.requests import SignedPreKey
from bridge.gateway.tokens import SigningKey, issue_identity_token, jwks_document, verify_token

PARTNER_KEY = SigningKey.generate("ES256")
KEYS = EnlistmentKeys(
    noise_static_public=bytes(range(32)), registration_id=0x01020304,
    identity_public=b"\x11" * 32,
    signed_prekey=SignedPreKey(key_id=0x0A0B0C, public=b"\x22" * 32, signature=b"\x33" * 64),
)
SIZES = {"authkey": 32, "e_keytype": 1, "e_regid": 4, "e_ident": 32, "e_skey_id": 3,
         "e_skey_val": 32, "e_skey_sig": 64}


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_form_fields_are_base64url_of_the_right_sizes() -> None:
    form = build_enlistment_form(KEYS, "tok")
    assert set(form) == {*SIZES, "token"}
    decoded = {name: b64url_decode(form[name]) for name in SIZES}
    assert {name: len(value) for name, value in decoded.items()} == SIZES
    assert decoded["e_keytype"] == b"\x05"
    assert decoded["e_regid"] == bytes([1, 2, 3, 4])
    assert decoded["e_skey_id"] == bytes([0x0A, 0x0B, 0x0C])
    assert all("=" not in form[name] and "+" not in form[name] for name in SIZES)


def test_form_refuses_wrong_key_sizes() -> None:
    bad = EnlistmentKeys(b"\x00" * 31, 1, b"\x11" * 32, KEYS.signed_prekey)
    with pytest.raises(ValueError):
        build_enlistment_form(bad, "tok")
    with pytest.raises(ValueError):
        build_enlistment_form(KEYS, "x" * 5000)


@pytest.mark.parametrize("status,body,reason", [
    (403, b'{"status":"fail","reason":"bad_integrator"}', "bad_integrator"),
    (200, b'{"status":"fail","reason":"bad_keys"}', "bad_keys"),
    (502, b"<html>bad gateway</html>", "bad_reply"),
    (200, b'{"status":"ok"}', "bad_reply"),
])
def test_reply_parsing(status: int, body: bytes, reason: str) -> None:
    with pytest.raises(EnlistmentError) as caught:
        parse_enlistment_reply(status, body)
    assert caught.value.reason == reason


async def test_enlist_against_loopback_endpoint() -> None:
    async def interop_reg(request: web.Request) -> web.Response:
        form = await request.post()
        try:
            fields = {name: b64url_decode(str(form[name])) for name in SIZES}
        except (KeyError, ValueError):
            return web.json_response({"status": "fail", "reason": "bad_keys"}, status=400)
        if any(len(fields[name]) != size for name, size in SIZES.items()):
            return web.json_response({"status": "fail", "reason": "bad_keys"}, status=400)
        try:
            claims = verify_token(str(form["token"]), jwks_document([PARTNER_KEY]),
                                  issuer="http://partner.test", audience="gw")
        except Exception:  # noqa: BLE001 - any token the fake gateway cannot verify is refused
            return web.json_response({"status": "fail", "reason": "bad_token"}, status=401)
        if claims["sub"] == "busy":
            return web.json_response({"status": "fail", "reason": "rate_limited"}, status=429,
                                     headers={"Retry-After": "7"})
        return web.json_response({"status": "ok", "login": "1-4242@interop"})

    app = web.Application()
    app.router.add_post("/3p/interop_reg", interop_reg)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    def token(user: str, key: SigningKey = PARTNER_KEY) -> str:
        return issue_identity_token(key, partner_base="http://partner.test",
                                    user_visible_id=user, gateway_audience="gw")

    try:
        async with aiohttp.ClientSession() as session:
            assert await enlist(session, base, KEYS, token("alice")) == "1-4242@interop"
            with pytest.raises(EnlistmentError) as caught:
                await enlist(session, base, KEYS, token("alice", SigningKey.generate()))
            assert (caught.value.reason, caught.value.http_status) == ("bad_token", 401)
            with pytest.raises(EnlistmentError) as caught:
                await enlist(session, base, KEYS, token("busy"))
            assert caught.value.retry_after == 7 and caught.value.transient
            with pytest.raises(EnlistmentError) as caught:
                await enlist(session, "http://127.0.0.1:1", KEYS, token("alice"))
            assert caught.value.reason == "unreachable"
    finally:
        await runner.cleanup()

"""Enlistment over real HTTP: the partner JWKS is fetched from a real partner server."""

from __future__ import annotations

import time

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .helpers import ClientKeys


async def enlist(sandbox, form: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.config.base_url}/3p/interop_reg", data=form) as resp:
            return resp.status, await resp.json()


async def test_good_request_gets_an_internal_id(sandbox, partner):
    keys = ClientKeys()
    status, body = await enlist(sandbox, keys.enlistment_form(partner.identity_token("alice")))
    assert (status, body) == (200, {"status": "ok", "login": "7-1@interop"})
    stored = await sandbox.partners.get("7-1@interop")
    assert stored.visible_id == "alice"
    assert stored.noise_key == keys.noise_public
    assert stored.identity_key == keys.identity_public
    # A second user gets the next number.
    status, body = await enlist(sandbox, ClientKeys().enlistment_form(partner.identity_token("bob")))
    assert body == {"status": "ok", "login": "7-2@interop"}


async def test_reenlisting_keeps_the_internal_id(sandbox, partner):
    first = ClientKeys()
    await enlist(sandbox, first.enlistment_form(partner.identity_token("alice")))
    second = ClientKeys()
    status, body = await enlist(sandbox, second.enlistment_form(partner.identity_token("alice")))
    assert body == {"status": "ok", "login": "7-1@interop"}
    assert (await sandbox.partners.get("7-1@interop")).noise_key == second.noise_public


def _wrong_signature(keys: ClientKeys) -> bytes:
    sig = bytearray(keys.signed_prekey_signature())
    sig[5] ^= 0x01
    return bytes(sig)


@pytest.mark.parametrize("overrides, reason", [
    ({"integrator": "8"}, "bad_integrator"),
    ({"version": "99"}, "bad_version"),
    ({"e_keytype": b"\x06"}, "bad_key_type"),
    ({"authkey": b"\x01" * 31}, "bad_key"),
    ({"e_ident": b"\x01" * 33}, "bad_key"),
    ({"e_skey_id": b"\x00\x01"}, "bad_key"),
    ({"e_skey_sig": b"\x00" * 63}, "bad_key"),
    ({"e_regid": "not base64!"}, "bad_request"),
    ({"token": ""}, "bad_request"),
    ({"token": "not-a-jwt"}, "bad_token"),
])
async def test_bad_fields_are_refused_with_the_documented_reason(sandbox, partner, overrides,
                                                                   reason):
    keys = ClientKeys()
    form = keys.enlistment_form(partner.identity_token("alice"), **overrides)
    status, body = await enlist(sandbox, form)
    assert (status, body) == (400, {"status": "fail", "reason": reason})
    assert await sandbox.partners.list() == []


async def test_bad_signed_prekey_signature_is_refused(sandbox, partner):
    keys = ClientKeys()
    form = keys.enlistment_form(partner.identity_token("alice"), e_skey_sig=_wrong_signature(keys))
    assert await enlist(sandbox, form) == (400, {"status": "fail", "reason": "bad_signature"})
    # A valid signature by a different identity key does not pass either.
    other = ClientKeys(signed_prekey_private=keys.signed_prekey_private)
    form = keys.enlistment_form(partner.identity_token("alice"),
                                e_skey_sig=other.signed_prekey_signature())
    assert await enlist(sandbox, form) == (400, {"status": "fail", "reason": "bad_signature"})


async def test_tokens_are_checked(sandbox, partner):
    keys = ClientKeys()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "signed by a key the partner does not publish": partner.identity_token("a", key=stranger),
        "wrong audience": partner.identity_token("a", audience="someone-else"),
        "wrong issuer": partner.identity_token("a", issuer="http://127.0.0.1:1"),
        "unknown kid": partner.identity_token("a", kid="nope"),
    }
    for why, token in cases.items():
        assert await enlist(sandbox, keys.enlistment_form(token)) == (
            400, {"status": "fail", "reason": "bad_token"}), why
    expired = partner.identity_token("a", now=time.time() - 7200, lifetime=600)
    assert await enlist(sandbox, keys.enlistment_form(expired)) == (
        400, {"status": "fail", "reason": "token_expired"})


async def test_token_expiry_follows_the_sandbox_clock(sandbox, partner):
    token = partner.identity_token("alice", lifetime=600)
    sandbox.clock.advance(3600)
    assert await enlist(sandbox, ClientKeys().enlistment_form(token)) == (
        400, {"status": "fail", "reason": "token_expired"})


async def test_a_noise_key_cannot_serve_two_users(sandbox, partner):
    keys = ClientKeys()
    await enlist(sandbox, keys.enlistment_form(partner.identity_token("alice")))
    assert await enlist(sandbox, keys.enlistment_form(partner.identity_token("bob"))) == (
        400, {"status": "fail", "reason": "authkey_in_use"})

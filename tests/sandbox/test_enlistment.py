"""Enlistment over real HTTP: the partner JWKS is fetched from a real partner server."""

from __future__ import annotations

import time

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .helpers import ClientKeys


async def enlist(sandbox, form: dict[str, str]) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.config.base_url}/3p/interop_reg", data=form) as resp,
    ):
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
    status, body = await enlist(sandbox,
                                ClientKeys().enlistment_form(partner.identity_token("bob")))
    assert body == {"status": "ok", "login": "7-2@interop"}


async def test_reenlisting_keeps_the_internal_id(sandbox, partner):
    first = ClientKeys()
    await enlist(sandbox, first.enlistment_form(partner.identity_token("alice")))
    second = ClientKeys()
    _, body = await enlist(sandbox, second.enlistment_form(partner.identity_token("alice")))
    assert body == {"status": "ok", "login": "7-1@interop"}
    assert (await sandbox.partners.get("7-1@interop")).noise_key == second.noise_public


def _wrong_signature(keys: ClientKeys) -> bytes:
    sig = bytearray(keys.signed_prekey_signature())
    sig[5] ^= 0x01
    return bytes(sig)


@pytest.mark.parametrize("overrides, status, reason", [
    ({"e_keytype": b"\x06"}, 400, "bad_keys"),
    ({"authkey": b"\x01" * 31}, 400, "bad_keys"),
    ({"e_ident": b"\x01" * 33}, 400, "bad_keys"),
    ({"e_skey_id": b"\x00\x01"}, 400, "bad_keys"),
    ({"e_skey_val": b"\x00" * 31}, 400, "bad_keys"),
    ({"e_skey_sig": b"\x00" * 63}, 400, "bad_keys"),
    ({"e_regid": ""}, 400, "bad_keys"),
    ({"e_regid": "not base64!"}, 400, "bad_request"),
    ({"e_ident": "AAAA+/AA"}, 400, "bad_request"),
    ({"token": ""}, 400, "bad_keys"),
    ({"token": "not-a-jwt"}, 401, "bad_token"),
])
async def test_bad_fields_are_refused_with_the_documented_reason(sandbox, partner, overrides,
                                                                   status, reason):
    keys = ClientKeys()
    form = keys.enlistment_form(partner.identity_token("alice"), **overrides)
    assert await enlist(sandbox, form) == (status, {"status": "fail", "reason": reason})
    assert await sandbox.partners.list_all() == []


async def test_unknown_integrator_is_refused(sandbox, partner):
    token = partner.identity_token("alice", issuer="https://other-partner.example")
    assert await enlist(sandbox, ClientKeys().enlistment_form(token)) == (
        403, {"status": "fail", "reason": "bad_integrator"})


async def test_bad_signed_prekey_signature_is_refused(sandbox, partner):
    keys = ClientKeys()
    form = keys.enlistment_form(partner.identity_token("alice"), e_skey_sig=_wrong_signature(keys))
    assert await enlist(sandbox, form) == (400, {"status": "fail", "reason": "bad_keys"})
    # A valid signature, but made by a different identity key, does not pass either.
    other = ClientKeys(signed_prekey_private=keys.signed_prekey_private)
    form = keys.enlistment_form(partner.identity_token("alice"),
                                e_skey_sig=other.signed_prekey_signature())
    assert await enlist(sandbox, form) == (400, {"status": "fail", "reason": "bad_keys"})
    # The untouched form is accepted: the refusals above were about the signature alone.
    form = keys.enlistment_form(partner.identity_token("alice"))
    assert (await enlist(sandbox, form))[0] == 200


async def test_tokens_are_checked(sandbox, partner):
    keys = ClientKeys()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "signed by a key the partner does not publish": partner.identity_token("a", key=stranger),
        "wrong audience": partner.identity_token("a", audience="someone-else"),
        "unknown kid": partner.identity_token("a", kid="nope"),
        "expired": partner.identity_token("a", now=time.time() - 7200, lifetime=600),
        "issued in the future": partner.identity_token("a", now=time.time() + 7200),
    }
    for why, token in cases.items():
        assert await enlist(sandbox, keys.enlistment_form(token)) == (
            401, {"status": "fail", "reason": "bad_token"}), why
    assert await sandbox.partners.list_all() == []


async def test_token_expiry_follows_the_sandbox_clock(sandbox, partner):
    token = partner.identity_token("alice", lifetime=600)
    sandbox.clock.advance(3600)
    assert await enlist(sandbox, ClientKeys().enlistment_form(token)) == (
        401, {"status": "fail", "reason": "bad_token"})


async def test_a_noise_key_cannot_serve_two_users(sandbox, partner):
    keys = ClientKeys()
    await enlist(sandbox, keys.enlistment_form(partner.identity_token("alice")))
    assert await enlist(sandbox, keys.enlistment_form(partner.identity_token("bob"))) == (
        400, {"status": "fail", "reason": "bad_keys"})

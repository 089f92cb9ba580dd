"""Checking the bridge's published Matrix identities independently of the bridge's own code:
``/keys/query`` as a person's client sees it, and ed25519 signatures verified with libolm over
canonical JSON, as the spec defines them."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import olm


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode()


def signature_valid(signed: dict, signer: str, key_name: str, public_key: str) -> bool:
    unsigned = {k: v for k, v in signed.items() if k not in ("signatures", "unsigned")}
    signature = signed.get("signatures", {}).get(signer, {}).get(f"ed25519:{key_name}")
    if signature is None:
        return False
    try:
        olm.ed25519_verify(public_key, canonical_json(unsigned), signature)
    except olm.OlmVerifyError:
        return False
    return True


def only_key(cross_signing_key: dict) -> str:
    [key] = cross_signing_key["keys"].values()
    return key


async def query_keys(homeserver: str, access_token: str, *user_ids: str) -> dict:
    async with aiohttp.ClientSession() as http, http.post(
            f"{homeserver}/_matrix/client/v3/keys/query",
            json={"device_keys": {user: [] for user in user_ids}},
            headers={"Authorization": f"Bearer {access_token}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def devices_of(homeserver: str, as_token: str, user_id: str) -> list[str]:
    """The user's devices on the homeserver, as the appservice lists them (MSC4190)."""
    async with aiohttp.ClientSession() as http, http.get(
            f"{homeserver}/_matrix/client/v3/devices", params={"user_id": user_id},
            headers={"Authorization": f"Bearer {as_token}"}) as response:
        assert response.status == 200, await response.text()
        return sorted(d["device_id"] for d in (await response.json())["devices"])


def device_with_curve_key(keys: dict, user_id: str, curve25519: str) -> str | None:
    for device_id, device in keys["device_keys"].get(user_id, {}).items():
        if device["keys"].get(f"curve25519:{device_id}") == curve25519:
            return device_id
    return None


def cross_signing_chain(keys: dict, user_id: str, device_id: str) -> str:
    """Asserts that ``device_id`` is signed by the user's self-signing key and that key by the
    user's master key; returns the master key."""
    master = keys["master_keys"][user_id]
    self_signing = keys["self_signing_keys"][user_id]
    master_key, ssk = only_key(master), only_key(self_signing)
    assert signature_valid(self_signing, user_id, master_key, master_key), \
        f"the self-signing key of {user_id} is not signed by its master key"
    device = keys["device_keys"][user_id][device_id]
    assert signature_valid(device, user_id, ssk, ssk), \
        f"device {device_id} of {user_id} is not signed by its self-signing key"
    assert signature_valid(device, user_id, device_id,
                           device["keys"][f"ed25519:{device_id}"]), "device self-signature"
    return master_key

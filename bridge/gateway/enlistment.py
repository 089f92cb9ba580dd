"""Enlistment (docs/gateway-protocol.md §4): the form, the reply, and a thin HTTP client."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass

import aiohttp

from .ids import InternalId, internal_id
from .requests import SignedPreKey

log = logging.getLogger("bridge.gateway.enlistment")
ENLISTMENT_PATH = "/3p/interop_reg"
MAX_TOKEN_SIZE = 4096


@dataclass(frozen=True, slots=True)
class EnlistmentKeys:
    """Public keys of one partner client, as enlisted."""

    noise_static_public: bytes  # authkey, 32 bytes
    registration_id: int
    identity_public: bytes  # 32 bytes, X25519 form
    signed_prekey: SignedPreKey


class EnlistmentError(Exception):
    """The gateway refused enlistment (``reason`` as in the spec) or could not be reached."""

    def __init__(self, reason: str, http_status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason if http_status is None else f"{reason} (HTTP {http_status})")
        self.reason = reason
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.reason in ("rate_limited", "unavailable", "unreachable")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _check_len(name: str, value: bytes, size: int) -> bytes:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return value


def build_enlistment_form(keys: EnlistmentKeys, token: str) -> dict[str, str]:
    if len(token) > MAX_TOKEN_SIZE:
        raise ValueError("identity token over 4096 bytes")
    skey = keys.signed_prekey
    return {
        "authkey": _b64url(_check_len("authkey", keys.noise_static_public, 32)),
        "e_keytype": _b64url(b"\x05"),
        "e_regid": _b64url(keys.registration_id.to_bytes(4, "big")),
        "e_ident": _b64url(_check_len("identity", keys.identity_public, 32)),
        "e_skey_id": _b64url(skey.key_id.to_bytes(3, "big")),
        "e_skey_val": _b64url(_check_len("signed prekey", skey.public, 32)),
        "e_skey_sig": _b64url(_check_len("signature", skey.signature, 64)),
        "token": token,
    }


def parse_enlistment_reply(http_status: int, body: bytes,
                           retry_after: float | None = None) -> InternalId:
    """The login on success; :class:`EnlistmentError` with the gateway's reason otherwise."""
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        reply = None
    if not isinstance(reply, dict):
        raise EnlistmentError("bad_reply", http_status, retry_after)
    if reply.get("status") == "ok" and http_status == 200:
        login = reply.get("login")
        if not isinstance(login, str) or not login.endswith("@interop"):
            raise EnlistmentError("bad_reply", http_status)
        return internal_id(login)
    reason = reply.get("reason")
    raise EnlistmentError(reason if isinstance(reason, str) else "unknown", http_status,
                          retry_after)


async def enlist(session: aiohttp.ClientSession, gateway_base: str, keys: EnlistmentKeys,
                 token: str) -> InternalId:
    form = build_enlistment_form(keys, token)
    url = gateway_base.rstrip("/") + ENLISTMENT_PATH
    try:
        async with session.post(url, data=form, timeout=aiohttp.ClientTimeout(total=30)) as resp:
            body = await resp.read()
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            return parse_enlistment_reply(resp.status, body, retry_after)
    except aiohttp.ClientError as exc:
        raise EnlistmentError("unreachable") from exc


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

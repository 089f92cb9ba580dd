"""Conformance driver: ``python -m bridge.signal.conformance [--db PATH]``.

Reads JSON-lines requests on stdin and answers each with one JSON line carrying the request's
``"id"`` (protocol in ``docs/signal-conformance.md``). State goes through the real storage layer
and the trust boundary: an SQLite database at ``--db`` (default: a temporary file) and a master
key file beside it (``PATH.key``, created with mode 0600). Each request runs in its own
transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..gateway.ids import Address
from ..storage import Database, acquire, open_database, transaction
from ..trust import MasterKey, Vault
from .agreement import PeerBundle
from .keys import decode_public_key, encode_public_key
from .party import PublishedBundle, SignalParty
from .store import SqlSignalStores
from .types import UserId


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def bundle_to_json(bundle: PublishedBundle) -> dict[str, Any]:
    return {
        "registrationId": bundle.registration_id, "deviceId": bundle.device_id,
        "identityKey": _b64(encode_public_key(bundle.identity_key)),
        "signedPreKey": {"keyId": bundle.signed_pre_key_id,
                         "publicKey": _b64(encode_public_key(bundle.signed_pre_key)),
                         "signature": _b64(bundle.signed_pre_key_signature)},
        "preKeys": [{"keyId": key_id, "publicKey": _b64(encode_public_key(pub))}
                    for key_id, pub in bundle.pre_keys],
    }


def bundle_from_json(data: dict[str, Any], pre_key_id: int | None) -> PeerBundle:
    pre_key = None
    if pre_key_id is not None:
        match = [k for k in data.get("preKeys", []) if k["keyId"] == pre_key_id]
        if not match:
            raise ValueError(f"bundle has no prekey {pre_key_id}")
        pre_key = decode_public_key(_unb64(match[0]["publicKey"]))
    spk = data["signedPreKey"]
    return PeerBundle(
        registration_id=data["registrationId"], device_id=data.get("deviceId", 1),
        identity_key=decode_public_key(_unb64(data["identityKey"])),
        signed_pre_key_id=spk["keyId"], signed_pre_key=decode_public_key(_unb64(spk["publicKey"])),
        signed_pre_key_signature=_unb64(spk["signature"]), pre_key_id=pre_key_id, pre_key=pre_key)


class ConformanceDriver:
    """Executes requests against parties kept entirely in the database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.key_path = db_path.with_name(db_path.name + ".key")
        self.db: Database | None = None
        self.store: SqlSignalStores | None = None

    async def start(self) -> None:
        self.db = await open_database(f"sqlite:{self.db_path}")
        self.store = SqlSignalStores(Vault(MasterKey.load_or_create(self.key_path)))

    async def stop(self) -> None:
        if self.db is not None:
            await self.db.stop()
            self.db = None

    def _party(self, name: str) -> SignalParty:
        assert self.store is not None
        return SignalParty(self.store.for_user(UserId(name)))

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "restart":
            await self.stop()
            await self.start()
            return {}
        assert self.db is not None
        async with acquire(self.db) as conn, transaction(conn):
            if cmd == "create":
                party = self._party(request["party"])
                await party.ensure_identity(
                    conn, registration_id=request.get("registrationId"),
                    pre_key_count=request.get("preKeys", 0),
                    first_pre_key_id=request.get("preKeyStart", 1),
                    signed_pre_key_id=request.get("signedPreKeyId", 1))
                return {"bundle": bundle_to_json(await party.bundle(conn))}
            if cmd == "bundle":
                return {"bundle": bundle_to_json(await self._party(request["party"]).bundle(conn))}
            if cmd == "process_bundle":
                bundle = bundle_from_json(request["bundle"], request.get("preKeyId"))
                await self._party(request["party"]).process_bundle(
                    conn, Address(request["peer"]), bundle)
                return {}
            if cmd == "encrypt":
                kind, body = await self._party(request["party"]).encrypt(
                    conn, Address(request["peer"]), _unb64(request["plaintext"]))
                return {"type": kind, "body": _b64(body)}
            if cmd == "decrypt":
                result = await self._party(request["party"]).decrypt(
                    conn, Address(request["peer"]), request["type"], _unb64(request["body"]))
                return {"plaintext": _b64(result.plaintext)}
        raise ValueError(f"unknown command {cmd!r}")


async def serve(db_path: Path, reader: asyncio.StreamReader | None = None) -> None:
    driver = ConformanceDriver(db_path)
    await driver.start()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                reply: dict[str, Any] = {"ok": False, "error": "bad JSON"}
            else:
                if request.get("cmd") == "quit":
                    _reply({"id": request.get("id"), "ok": True})
                    break
                try:
                    reply = {"id": request.get("id"), "ok": True, **await driver.handle(request)}
                except Exception as e:  # noqa: BLE001 - reported to the caller, never the content
                    reply = {"id": request.get("id"), "ok": False,
                             "error": f"{type(e).__name__}: {e}"}
            _reply(reply)
    finally:
        await driver.stop()


def _reply(reply: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.signal.conformance")
    parser.add_argument("--db", help="SQLite file for all state (default: a temporary file)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.db:
        asyncio.run(serve(Path(args.db)))
    else:
        with tempfile.TemporaryDirectory(prefix="signal-conformance-") as tmp:
            asyncio.run(serve(Path(tmp) / "state.db"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

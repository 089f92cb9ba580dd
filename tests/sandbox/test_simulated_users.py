"""Simulated gatekeeper users: real Signal sessions with a partner client, through the sandbox."""

from __future__ import annotations

import base64

import aiohttp

from bridge.gateway.codec import Node
from bridge.gateway.ids import Address
from bridge.sandbox.enlistment import b64url_encode
from bridge.sandbox.simulated import pad
from bridge.signal.agreement import PeerBundle
from bridge.signal.party import SignalParty
from bridge.signal.store import MemorySignalStore
from bridge.signal.types import UserId

from .conftest import ADMIN_SECRET
from .helpers import Admin, ChatClient, ClientKeys
from .test_keys_and_receipts import bundle_request
from .test_mailbox import drain, make_gatekeeper_user


def unpad(padded: bytes) -> bytes:
    length = padded[-1]
    assert 1 <= length <= 15 and padded[-length:] == bytes([length]) * length
    return padded[:-length]


async def enlist_signal_party(sandbox, partner, visible_id: str):
    """A partner client whose enlisted keys are a real SignalParty's."""
    party = SignalParty(MemorySignalStore(UserId(visible_id)))
    await party.ensure_identity(None)
    bundle = await party.bundle(None)
    noise = ClientKeys()
    form = {
        "authkey": b64url_encode(noise.noise_public),
        "e_keytype": b64url_encode(b"\x05"),
        "e_regid": b64url_encode(bundle.registration_id.to_bytes(4, "big")),
        "e_ident": b64url_encode(bundle.identity_key),
        "e_skey_id": b64url_encode(bundle.signed_pre_key_id.to_bytes(3, "big")),
        "e_skey_val": b64url_encode(bundle.signed_pre_key),
        "e_skey_sig": b64url_encode(bundle.signed_pre_key_signature),
        "token": partner.identity_token(visible_id, now=sandbox.clock.now()),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.config.base_url}/3p/interop_reg", data=form) as resp,
    ):
        body = await resp.json()
    assert body["status"] == "ok", body
    login = body["login"]
    client = await ChatClient(sandbox, noise, login,
                              partner.identity_token(visible_id, now=sandbox.clock.now())
                              ).connect()
    await drain(client)
    upload = Node("iq", {"id": "up", "type": "set", "xmlns": "encrypt"}, [Node("list", {}, [
        Node("key", {}, [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)])
        for key_id, public in bundle.pre_keys])])
    assert (await client.request(upload)).attrs["type"] == "result"
    return party, login, client


async def test_simulated_user_and_partner_client_talk_both_ways(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    gina = await make_gatekeeper_user(admin, "gina")
    status, body = await admin.call("POST", "/gatekeeper-users/gina/simulate")
    assert status == 200 and body["one_time_prekeys"] > 5
    alice_party, alice, client = await enlist_signal_party(sandbox, partner, "alice")
    try:
        # Gina → alice: a PreKeySignalMessage built from alice's bundle on the key server.
        status, body = await admin.call("POST", "/gatekeeper-users/gina/send", {
            "to": alice, "plaintext": base64.b64encode(b"content-protobuf-1").decode(),
            "id": "G1", "pad": True})
        assert status == 200 and "children" not in body["reply"], body
        message = await client.receive_until(lambda n: n.tag == "message")
        enc = message.child("enc")
        assert (message.attrs["from"], enc.attrs["type"]) == (gina, "pkmsg")
        decrypted = await alice_party.decrypt(None, Address(gina), "pkmsg", enc.data)
        assert unpad(decrypted.plaintext) == b"content-protobuf-1"
        await client.send(Node("ack", {"class": "message", "id": "G1", "to": gina}))

        # Alice → gina on the established session, plus a delivery receipt.
        kind, ciphertext = await alice_party.encrypt(None, Address(gina), pad(b"reply-2"))
        ack = await client.request(Node("message", {"id": "A1", "to": gina, "type": "text"},
                                        [Node("enc", {"v": "2", "type": kind}, ciphertext)]))
        assert not ack.children
        await client.request(Node("receipt", {"id": "G1", "to": gina}))
        status, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert status == 200
        entries = inbox["entries"]
        assert [(e["class"], e["id"], e["from"]) for e in entries] == [
            ("message", "A1", alice), ("receipt", "G1", alice)]
        assert unpad(base64.b64decode(entries[0]["plaintext"])) == b"reply-2"
        # The inbox acknowledged them: the mailbox is empty, the inbox keeps the history.
        assert await sandbox.mailbox.count(gina) == 0

        # Read receipt and typing from gina reach alice.
        await admin.call("POST", "/gatekeeper-users/gina/typing", {"to": alice})
        typing = await client.receive_until(lambda n: n.tag == "chatstate")
        assert typing.attrs["from"] == gina
        await admin.call("POST", "/gatekeeper-users/gina/read", {"to": alice, "id": "A1"})
        read = await client.receive_until(lambda n: n.tag == "receipt")
        assert (read.attrs["type"], read.attrs["id"]) == ("read", "A1")
    finally:
        await client.close()


async def test_partner_starts_the_session_from_the_simulated_users_bundle(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    gina = await make_gatekeeper_user(admin, "gina")
    await admin.call("POST", "/gatekeeper-users/gina/simulate")
    alice_party, _, client = await enlist_signal_party(sandbox, partner, "alice")
    try:
        reply = await client.request(bundle_request("k", gina))
        user = reply.child("list").children[0]
        skey, otk = user.child("skey"), user.child("key")
        await alice_party.process_bundle(None, Address(gina), PeerBundle(
            int.from_bytes(user.child("registration").data, "big"), 1,
            user.child("identity").data, int.from_bytes(skey.child("id").data, "big"),
            skey.child("value").data, skey.child("signature").data,
            int.from_bytes(otk.child("id").data, "big"), otk.child("value").data))
        kind, ciphertext = await alice_party.encrypt(None, Address(gina), b"hello gina\x01")
        assert kind == "pkmsg"
        await client.request(Node("message", {"id": "A1", "to": gina, "type": "text"},
                                  [Node("enc", {"v": "2", "type": kind}, ciphertext)]))
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert base64.b64decode(inbox["entries"][0]["plaintext"]) == b"hello gina\x01"
    finally:
        await client.close()


async def test_simulated_user_refusals(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    await make_gatekeeper_user(admin, "shy", opted_in=False)
    await make_gatekeeper_user(admin, "gina")
    await admin.call("POST", "/gatekeeper-users/shy/simulate")
    await admin.call("POST", "/gatekeeper-users/gina/simulate")
    _, alice, client = await enlist_signal_party(sandbox, partner, "alice")
    try:
        status, _ = await admin.call("POST", "/gatekeeper-users/shy/send", {
            "to": alice, "plaintext": "eA=="})
        assert status == 403
        # Alice blocks gina: gina's messages are refused with 409.
        await client.request(Node("iq", {"id": "b", "type": "set", "xmlns": "blocklist"}, [
            Node("item", {"jid": (await admin.call("GET", "/gatekeeper-users/gina"))[1][
                "address"], "action": "block"})]))
        status, body = await admin.call("POST", "/gatekeeper-users/gina/send", {
            "to": alice, "plaintext": "eA=="})
        assert body["reply"]["children"][0]["attrs"]["code"] == "409"
        status, _ = await admin.call("POST", "/gatekeeper-users/nobody/send", {
            "to": alice, "plaintext": "eA=="})
        assert status == 404
    finally:
        await client.close()


async def test_admin_command_line_drives_a_simulated_user(sandbox, partner):
    import asyncio
    import json
    import os
    import sys

    async def cli(*argv: str) -> tuple[int, object]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge.sandbox.admin_cli", "--url", sandbox.config.base_url,
            *argv, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "SANDBOX_ADMIN_SECRET": ADMIN_SECRET})
        out, _ = await process.communicate()
        return process.returncode, json.loads(out)

    code, created = await cli("create-user", "gina", "--simulate")
    assert code == 0 and created["address"].endswith("@gk")
    alice_party, alice, client = await enlist_signal_party(sandbox, partner, "alice")
    try:
        code, answer = await cli("send", "gina", alice, "--raw-text", "hi", "--id", "C1")
        assert code == 0 and answer["reply"]["tag"] == "ack"
        message = await client.receive_until(lambda n: n.tag == "message")
        plaintext = (await alice_party.decrypt(None, Address(created["address"]), "pkmsg",
                                               message.child("enc").data)).plaintext
        assert unpad(plaintext) == b"hi"
        code, partners = await cli("partners")
        assert [p["internal_id"] for p in partners["partners"]] == [alice]
        code, _ = await cli("--secret", "wrong", "partners")
        assert code == 1
    finally:
        await client.close()


async def test_simulated_user_refills_its_prekeys_without_reissuing_any(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    gina = await make_gatekeeper_user(admin, "gina")
    _, first = await admin.call("POST", "/gatekeeper-users/gina/simulate")
    alice_party, _, client = await enlist_signal_party(sandbox, partner, "alice")
    try:
        handed_out = []
        for i in range(first["one_time_prekeys"] + 10):
            reply = await client.request(bundle_request(f"k{i}", gina))
            user = reply.child("list").children[0]
            key = user.child("key")
            assert key is not None, f"pool ran dry at fetch {i}"
            handed_out.append(int.from_bytes(key.child("id").data, "big"))
        assert len(set(handed_out)) == len(handed_out)  # no prekey given out twice
        assert await sandbox.partners.count_one_time_prekeys(gina) >= 5
        # A refilled prekey works: gina holds its private half.
        assert handed_out[-1] > first["one_time_prekeys"]
        skey = user.child("skey")
        await alice_party.process_bundle(None, Address(gina), PeerBundle(
            int.from_bytes(user.child("registration").data, "big"), 1,
            user.child("identity").data, int.from_bytes(skey.child("id").data, "big"),
            skey.child("value").data, skey.child("signature").data,
            handed_out[-1], key.child("value").data))
        kind, ciphertext = await alice_party.encrypt(None, Address(gina), pad(b"late"))
        await client.request(Node("message", {"id": "L1", "to": gina, "type": "text"},
                                  [Node("enc", {"v": "2", "type": kind}, ciphertext)]))
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert unpad(base64.b64decode(inbox["entries"][0]["plaintext"])) == b"late"
    finally:
        await client.close()

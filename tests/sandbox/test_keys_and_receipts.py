"""Key server (prekeys, bundles, notifications), receipts, chat states, lookup and pings."""

from __future__ import annotations

from bridge.gateway.codec import Node

from .conftest import ADMIN_SECRET
from .helpers import Admin, ClientKeys, connect_user, enlist_user
from .test_mailbox import drain, make_gatekeeper_user, send_as_gatekeeper


def upload(iq_id: str, prekeys: range, keys: ClientKeys | None = None) -> Node:
    children = [Node("list", {}, [
        Node("key", {}, [Node("id", {}, i.to_bytes(3, "big")),
                         Node("value", {}, bytes([i % 256]) * 32)]) for i in prekeys])]
    if keys is not None:
        children += [
            Node("registration", {}, keys.registration_id.to_bytes(4, "big")),
            Node("keytype", {}, b"\x05"),
            Node("identity", {}, keys.identity_public),
            Node("skey", {}, [Node("id", {}, b"\x00\x00\x02"),
                              Node("value", {}, keys.signed_prekey_public),
                              Node("signature", {}, keys.signed_prekey_signature())]),
        ]
    return Node("iq", {"id": iq_id, "type": "set", "xmlns": "encrypt"}, children)


def count_request(iq_id: str) -> Node:
    return Node("iq", {"id": iq_id, "type": "get", "xmlns": "encrypt"}, [Node("count")])


def bundle_request(iq_id: str, *jids: str) -> Node:
    return Node("iq", {"id": iq_id, "type": "get", "xmlns": "encrypt"},
                [Node("key", {}, [Node("user", {"jid": j}) for j in jids])])


async def test_prekeys_upload_count_and_bundle_consumption(sandbox, partner):
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    try:
        await drain(a)
        await drain(b)
        assert (await a.request(upload("u1", range(1, 7)))).attrs["type"] == "result"
        count = await a.request(count_request("c1"))
        assert count.child("count").attrs["value"] == "6"

        reply = await b.request(bundle_request("k1", alice, "7-404@interop"))
        users = {u.attrs["jid"]: u for u in reply.child("list").children}
        bundle = users[alice]
        assert bundle.child("identity").data == alice_keys.identity_public
        assert bundle.child("skey").child("value").data == alice_keys.signed_prekey_public
        stored_signature = (await sandbox.partners.get(alice)).signed_prekey.signature
        assert bundle.child("skey").child("signature").data == stored_signature
        assert bundle.child("registration").data == alice_keys.registration_id.to_bytes(4, "big")
        assert bundle.child("key").child("id").data == (1).to_bytes(3, "big")
        assert users["7-404@interop"].child("error").attrs["code"] == "404"
        assert (await a.request(count_request("c2"))).child("count").attrs["value"] == "5"

        # Below 5 left: the owner is told to refill (once, while the warning is unacked).
        await b.request(bundle_request("k2", alice))
        note = await a.receive_until(lambda n: n.tag == "notification")
        assert note.attrs["type"] == "encrypt" and note.attrs["from"] == "s.interop"
        assert note.child("count").attrs["value"] == "4"

        # An empty pool still yields a bundle, without a one-time prekey.
        for i in range(4):
            await b.request(bundle_request(f"k3{i}", alice))
        last = await b.request(bundle_request("k4", alice))
        assert last.child("list").children[0].child("key") is None
        assert last.child("list").children[0].child("identity") is not None
    finally:
        await a.close()
        await b.close()


async def test_signed_prekey_with_bad_signature_is_refused(sandbox, partner):
    keys, alice = await enlist_user(sandbox, partner, "alice")
    a = await connect_user(sandbox, partner, "alice", keys, alice)
    try:
        await drain(a)
        forged = ClientKeys(identity_private=ClientKeys().identity_private,
                            signed_prekey_private=keys.signed_prekey_private)
        node = upload("bad", range(1, 2), forged)
        # Claim alice's identity but sign with another key.
        node = Node("iq", node.attrs, [c if c.tag != "identity" else
                                       Node("identity", {}, keys.identity_public)
                                       for c in node.children])
        reply = await a.request(node)
        assert reply.attrs["type"] == "error" and reply.child("error").attrs["code"] == "400"
    finally:
        await a.close()


async def test_identity_change_notifies_those_who_fetched_the_old_identity(sandbox, partner):
    _, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    carol_keys, carol = await enlist_user(sandbox, partner, "carol")
    b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    c = await connect_user(sandbox, partner, "carol", carol_keys, carol)
    try:
        await drain(b)
        await drain(c)
        await b.request(bundle_request("k", alice))   # bob knows alice's identity; carol does not
        # Alice reinstalls: enlists again with a new identity (same login).
        new_keys = ClientKeys()
        _, same_login = await enlist_user(sandbox, partner, "alice", new_keys)
        assert same_login == alice
        note = await b.receive_until(lambda n: n.tag == "notification")
        assert note.attrs["type"] == "identity-change" and note.attrs["from"] == alice
        ping = await c.request(Node("iq", {"id": "p", "type": "get", "xmlns": "ping"}))
        assert ping.attrs["type"] == "result"
        assert c.inbox.empty()
        # Uploading yet another identity over the chat channel notifies bob again.
        a = await connect_user(sandbox, partner, "alice", new_keys, alice)
        await drain(a)
        await b.send(Node("ack", {"class": "notification", "id": note.attrs["id"],
                                  "to": alice}))
        await b.request(bundle_request("k2", alice))
        newer = ClientKeys()
        assert (await a.request(upload("u", range(1, 3), newer))).attrs["type"] == "result"
        note2 = await b.receive_until(lambda n: n.tag == "notification")
        assert note2.attrs["type"] == "identity-change"
        await a.close()
    finally:
        await b.close()
        await c.close()


async def test_receipts_including_retry_are_forwarded_and_acked(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, alice = await enlist_user(sandbox, partner, "alice")
    gina = await make_gatekeeper_user(admin, "gina")
    await send_as_gatekeeper(admin, "gina", alice, "M1")
    a = await connect_user(sandbox, partner, "alice", keys, alice)
    try:
        await drain(a)
        retry = Node("receipt", {"id": "M1", "to": gina, "type": "retry"}, [
            Node("retry", {"count": "1", "id": "M1", "t": "1", "v": "1"}),
            Node("registration", {}, keys.registration_id.to_bytes(4, "big"))])
        ack = await a.request(retry)
        assert (ack.tag, ack.attrs["class"], ack.attrs["type"]) == ("ack", "receipt", "retry")
        read = await a.request(Node("receipt", {"id": "M1", "to": gina, "type": "read"}))
        assert read.attrs["type"] == "read" and not read.children
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        forwarded = [(e["class"], e["type"], e["from"]) for e in received["entries"]]
        assert forwarded == [("receipt", "retry", alice), ("receipt", "read", alice)]
        retry_stanza = received["entries"][0]["stanza"]
        assert [c["tag"] for c in retry_stanza["children"]] == ["retry", "registration"]
        # And the other way: gina's delivery receipt reaches alice.
        _, body = await admin.call("POST", "/gatekeeper-users/gina/stanzas", {
            "stanza": {"tag": "receipt", "attrs": {"id": "B1", "to": alice}}})
        assert body["reply"]["tag"] == "ack"
        receipt = await a.receive_until(lambda n: n.tag == "receipt")
        assert receipt.attrs["from"] == gina and receipt.attrs["id"] == "B1"
    finally:
        await a.close()


async def test_chatstate_is_relayed_live_only(sandbox, partner):
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    try:
        await drain(a)
        await drain(b)
        await a.send(Node("chatstate", {"to": bob}, [Node("composing")]))
        state = await b.receive()
        assert state.tag == "chatstate" and state.attrs["from"] == alice
        assert state.children[0].tag == "composing"
        assert await sandbox.mailbox.count(bob) == 0
    finally:
        await a.close()
        await b.close()


async def test_lookup_and_reachability_ping(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, alice = await enlist_user(sandbox, partner, "alice")
    gina = await make_gatekeeper_user(admin, "gina", opted_in=False)
    a = await connect_user(sandbox, partner, "alice", keys, alice)
    try:
        await drain(a)
        found = await a.request(Node("iq", {"id": "l", "type": "get", "xmlns": "lookup"},
                                     [Node("user", {"username": "gina"})]))
        assert found.child("user").attrs == {"username": "gina", "jid": gina,
                                             "opted-in": "false"}
        missing = await a.request(Node("iq", {"id": "l2", "type": "get", "xmlns": "lookup"},
                                       [Node("user", {"username": "nobody"})]))
        assert missing.child("error").attrs["code"] == "404"
        ping = Node("iq", {"id": "r1", "type": "set", "xmlns": "reachability"},
                    [Node("ping", {"to": gina})])
        assert (await a.request(ping)).attrs["type"] == "result"
        again = await a.request(Node("iq", {**ping.attrs, "id": "r2"}, ping.content))
        assert again.child("error").attrs["code"] == "429"
        assert "retry-after" in again.child("error").attrs
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        assert [e["stanza"]["attrs"]["type"] for e in received["entries"]] == ["reachability"]
        unknown = await a.request(Node("iq", {"id": "x", "type": "get", "xmlns": "nope"}))
        assert unknown.child("error").attrs["code"] == "400"
    finally:
        await a.close()


async def test_gatekeeper_user_keys_are_served_as_bundles(sandbox, partner):
    from bridge.sandbox.enlistment import b64url_encode

    admin = Admin(sandbox, ADMIN_SECRET)
    keys, alice = await enlist_user(sandbox, partner, "alice")
    gina = await make_gatekeeper_user(admin, "gina")
    sim = ClientKeys()
    status, body = await admin.call("PUT", "/gatekeeper-users/gina/keys", {
        "registration_id": sim.registration_id,
        "identity_key": b64url_encode(sim.identity_public),
        "signed_prekey": {"id": 1, "public_key": b64url_encode(sim.signed_prekey_public),
                          "signature": b64url_encode(sim.signed_prekey_signature())},
        "one_time_prekeys": [{"id": 9, "public_key": b64url_encode(b"\x09" * 32)}],
    })
    assert (status, body["one_time_prekeys"]) == (200, 1)
    a = await connect_user(sandbox, partner, "alice", keys, alice)
    try:
        await drain(a)
        reply = await a.request(bundle_request("k", gina))
        user = reply.child("list").children[0]
        assert user.child("identity").data == sim.identity_public
        assert user.child("key").child("value").data == b"\x09" * 32
    finally:
        await a.close()


async def test_media_download_and_partner_media_proxy(sandbox, partner):
    import aiohttp

    from bridge.gateway.tokens import verify_token

    admin = Admin(sandbox, ADMIN_SECRET)
    status, body = await admin.call("POST", "/media", data=b"encrypted-blob")
    assert status == 201 and body["path"].startswith("/v/t")
    partner.media["ref_ABC-123"] = b"partner-encrypted-blob"
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.config.base_url + body["path"]) as resp:
            assert (resp.status, await resp.read()) == (200, b"encrypted-blob")
        async with http.get(sandbox.config.base_url + "/v/tnothing") as resp:
            assert resp.status == 404
        proxy = f"{sandbox.config.base_url}/interop/whatsapp/download/7/ref_ABC-123/"
        async with http.get(proxy) as resp:
            assert (resp.status, await resp.read()) == (200, b"partner-encrypted-blob")
        async with http.get(f"{sandbox.config.base_url}/.well-known/jwks.json") as resp:
            jwks = await resp.json()
        async with http.get(proxy.replace("/7/", "/8/")) as resp:
            assert resp.status == 404
        async with http.get(proxy.replace("ref_ABC-123", "missing")) as resp:
            assert resp.status == 404
    claims = verify_token(partner.media_tokens[0], jwks, issuer=sandbox.config.gateway_id,
                          audience=partner.base_url, purpose="media")
    assert claims["sub"] == "ref_ABC-123"

"""Simulated gatekeeper users speak the content format: every kind reaches a real partner
Signal party, and what the partner sends comes back decoded (media verified)."""

from __future__ import annotations

import base64
import hashlib

from bridge.content import (
    Audio,
    Document,
    Edit,
    Image,
    Location,
    MediaKind,
    MediaRef,
    Reaction,
    ReplyTo,
    Revoke,
    StanzaId,
    Sticker,
    Text,
    Video,
    decode_content,
    encode_content,
)
from bridge.gateway.codec import Node
from bridge.gateway.ids import Address
from bridge.media import decrypt_media, encrypt_media

from .simulated_support import PartnerSide, download, simulated_gina


async def test_every_kind_of_content_reaches_the_partner(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)

    async def send(kind: str, body: dict) -> dict:
        status, answer = await admin.call("POST", f"/gatekeeper-users/gina/send/{kind}", body)
        assert status == 200 and "error" not in answer, answer
        return answer

    try:
        # Text with markup and a mention, addressed by the partner's user-visible id.
        sent = await send("text", {"to": "alice", "text": "*hi* @alice", "mentions": ["alice"],
                                   "id": "T1"})
        assert sent["id"] == "T1" and sent["content"]["kind"] == "text"
        message, content = await alice.receive_content(gina)
        assert message.attrs["type"] == "text" and message.attrs["id"] == "T1"
        assert content == Text(text="*hi* @alice", mentions=(alice.login,))

        # A reply quoting alice's message, by internal id.
        await send("reply", {"to": alice.login, "text": "quoting", "reply_to": "A1"})
        _, content = await alice.receive_content(gina)
        assert content == Text(text="quoting", reply_to=ReplyTo(stanza_id=StanzaId("A1")))

        # A voice note: encrypted by the sandbox, kept on its media server, referenced by /v/t….
        voice = b"OggS" + bytes(range(256)) * 8
        sent = await send("media", {"to": "alice", "kind": "audio", "voice_note": True,
                                    "data": base64.b64encode(voice).decode(),
                                    "duration_seconds": 3})
        message, content = await alice.receive_content(gina)
        assert message.attrs["type"] == "media" and isinstance(content, Audio)
        assert content.voice_note and content.duration_seconds == 3
        assert content.media.path.startswith("/v/t")
        assert content.media.mime_type == "audio/ogg; codecs=opus"
        blob = await download(sandbox, content.media.path)
        assert decrypt_media(MediaKind.AUDIO, blob, content.media.media_key,
                             content.media.sha256_enc, content.media.sha256_plain) == voice
        assert "media_key" not in sent["content"]["media"]  # key material is not echoed

        # A document keeps its file name; an image its caption.
        await send("media", {"to": "alice", "kind": "document", "file_name": "report.pdf",
                             "mime_type": "application/pdf",
                             "data": base64.b64encode(b"%PDF-1.7 ...").decode()})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Document) and content.file_name == "report.pdf"
        assert content.media.mime_type == "application/pdf"
        await send("media", {"to": "alice", "kind": "image", "caption": "look",
                             "data": base64.b64encode(b"\xff\xd8jpeg").decode()})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Image) and content.caption == "look"

        await send("location", {"to": "alice", "latitude": 52.52, "longitude": 13.405,
                                "name": "Berlin"})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Location) and (content.latitude, content.name) == (
            52.52, "Berlin")

        # Reaction and its revoke (type hint "reaction"), edit and revoke of gina's own message.
        await send("reaction", {"to": "alice", "target": "A1", "emoji": "👍"})
        message, content = await alice.receive_content(gina)
        assert message.attrs["type"] == "reaction" and isinstance(content, Reaction)
        assert (content.text, content.target.id, content.target.from_me) == ("👍", "A1", False)
        await send("reaction", {"to": "alice", "target": "A1"})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Reaction) and content.is_revoke
        await send("edit", {"to": "alice", "target": "T1", "text": "*hello*"})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Edit) and content.target.id == "T1"
        assert content.target.from_me and content.new_content == Text(text="*hello*")
        await send("revoke", {"to": "alice", "target": "T1"})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Revoke) and content.target.id == "T1"

        # Typing and read receipt.
        assert (await admin.call("POST", "/gatekeeper-users/gina/typing",
                                 {"to": "alice", "state": "paused"}))[0] == 200
        state = await alice.client.receive_until(lambda n: n.tag == "chatstate")
        assert state.children[0].tag == "paused"
        status, answer = await admin.call("POST", "/gatekeeper-users/gina/read",
                                          {"to": "alice", "id": "A1"})
        assert status == 200 and answer["id"] == "A1"
        read = await alice.client.receive_until(lambda n: n.tag == "receipt")
        assert (read.attrs["id"], read.attrs["type"]) == ("A1", "read")
    finally:
        await alice.client.close()


async def test_content_requests_are_validated(sandbox, partner):
    admin, _ = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        for kind, body in [("text", {"to": "alice", "text": ""}),
                           ("reply", {"to": "alice", "text": "no target"}),
                           ("media", {"to": "alice", "kind": "hologram", "data": "eA=="}),
                           ("media", {"to": "alice", "kind": "image"}),
                           ("location", {"to": "alice", "latitude": 91, "longitude": 0}),
                           ("reaction", {"to": "alice", "emoji": "👍"})]:
            status, answer = await admin.call("POST", f"/gatekeeper-users/gina/send/{kind}",
                                              body)
            assert status == 400, (kind, answer)
        status, _ = await admin.call("POST", "/gatekeeper-users/gina/send/text",
                                     {"to": "nobody-known", "text": "x"})
        assert status == 404
        status, _ = await admin.call("POST", "/gatekeeper-users/gina/send/sticker-pack",
                                     {"to": "alice"})
        assert status == 404
    finally:
        await alice.client.close()


async def test_inbox_decodes_content_verifies_partner_media_and_lists_receipts(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        # Gina writes first, so alice has a session; alice's answers come back decoded.
        await admin.call("POST", "/gatekeeper-users/gina/send/text",
                         {"to": "alice", "text": "hello", "id": "G1"})
        await alice.receive_content(gina)
        ack = await alice.send_content(gina, Text(text="_hi_ gina", reply_to=ReplyTo(
            stanza_id=StanzaId("G1"))), stanza_id="A1")
        assert not ack.children

        # Partner-hosted media: alice's server keeps the blob, the path goes through the proxy.
        photo = bytes(range(200)) * 50
        encrypted = encrypt_media(MediaKind.IMAGE, photo)
        partner.media["ref-photo-1"] = encrypted.blob
        media = MediaRef(path=f"/interop/whatsapp/download/{sandbox.config.integrator_id}"
                              "/ref-photo-1/", media_key=encrypted.media_key,
                         sha256_plain=encrypted.sha256_plain, sha256_enc=encrypted.sha256_enc,
                         length=len(photo), mime_type="image/png")
        await alice.send_content(gina, Image(media=media, caption="sunset"),
                                 message_type="media", stanza_id="A2")
        # A blob that does not match its announced hash is reported, not decrypted.
        partner.media["ref-bad"] = encrypted.blob[:-1] + bytes([encrypted.blob[-1] ^ 1])
        bad = MediaRef(path=f"/interop/whatsapp/download/{sandbox.config.integrator_id}"
                            "/ref-bad/", media_key=encrypted.media_key,
                       sha256_plain=encrypted.sha256_plain,
                       sha256_enc=hashlib.sha256(partner.media["ref-bad"]).digest(),
                       length=len(photo), mime_type="image/png")
        await alice.send_content(gina, Image(media=bad), message_type="media", stanza_id="A3")
        await alice.client.request(Node("receipt", {"id": "G1", "to": gina, "type": "read"}))
        await alice.client.send(Node("chatstate", {"to": gina}, [Node("composing")]))

        status, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert status == 200
        entries = {(e["class"], e["id"]): e for e in inbox["entries"]}
        text = entries[("message", "A1")]
        assert text["content"]["kind"] == "text" and text["content"]["text"] == "_hi_ gina"
        assert text["content"]["reply_to"]["stanza_id"] == "G1"
        assert text["from"] == alice.login and text["from_username"] == "alice"
        image = entries[("message", "A2")]
        assert image["content"]["kind"] == "image"
        assert image["content"]["media"]["sha256_plain"] == encrypted.sha256_plain.hex()
        assert image["download"] == {"verified": True, "size": len(photo),
                                     "sha256": hashlib.sha256(photo).hexdigest()}
        assert entries[("message", "A3")]["download"] == {"error": "MediaMacMismatch"}
        receipt = entries[("receipt", "G1")]
        assert receipt["receipt"] == {"type": "read", "ids": ["G1"]}
        assert [(c["from"], c["state"]) for c in inbox["chat_states"]] == [
            (alice.login, "composing")]
        # Everything was acked out of the mailbox; asking again lists the same history.
        assert await sandbox.mailbox.count(gina) == 0
        _, again = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert [e["seq"] for e in again["entries"]] == [e["seq"] for e in inbox["entries"]]
    finally:
        await alice.client.close()


async def test_redelivered_message_is_only_acked_again(sandbox, partner):
    """A message delivered again after it was stored (a crash before the ack) keeps one inbox
    entry and is not decrypted twice (that would fail: its message key is used up)."""
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "x"})
        await alice.receive_content(gina)
        await alice.send_content(gina, Text(text="once"), stanza_id="A1")
        [pending] = await sandbox.mailbox.pending(gina)
        _, first = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        await sandbox.mailbox.put(gina, pending.ack_class, pending.stanza_id, pending.peer,
                                  pending.stanza_type, pending.stanza, pending.stored_at)
        _, second = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert second["entries"] == first["entries"]
        assert [e["content"]["text"] for e in second["entries"]] == ["once"]
        assert await sandbox.mailbox.count(gina) == 0
    finally:
        await alice.client.close()


async def test_undecryptable_message_gets_a_retry_receipt(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "x"})
        await alice.receive_content(gina)
        await alice.client.request(Node("message", {"id": "BAD", "to": gina, "type": "text"},
                                        [Node("enc", {"v": "2", "type": "msg"}, b"\x33junk")]))
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        [entry] = inbox["entries"]
        assert entry["id"] == "BAD" and "error" in entry and "content" not in entry
        retry = await alice.client.receive_until(lambda n: n.tag == "receipt")
        assert (retry.attrs["id"], retry.attrs["type"]) == ("BAD", "retry")
        # The resend (same id, enc count="1") that decrypts replaces the failed entry.
        kind, ciphertext = await alice.party.encrypt(None, Address(gina),
                                                     encode_content(Text(text="again")))
        ack = await alice.client.request(Node("message", {"id": "BAD", "to": gina,
                                                          "type": "text"},
                                              [Node("enc", {"v": "2", "type": kind,
                                                            "count": "1"}, ciphertext)]))
        assert not ack.children
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        [entry] = inbox["entries"]
        assert entry["id"] == "BAD" and "error" not in entry
        assert entry["content"]["text"] == "again"
    finally:
        await alice.client.close()


async def test_simulated_user_starts_a_new_session_when_the_partner_enlists_again(sandbox,
                                                                                  partner):
    admin, gina = await simulated_gina(sandbox)
    old = await PartnerSide.enlist(sandbox, partner)
    await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "one"})
    await old.receive_content(gina)
    # Alice reinstalls: same user-visible id and login, new Signal identity.
    new = await PartnerSide.enlist(sandbox, partner)
    await old.client.close()
    try:
        assert new.login == old.login
        await admin.call("POST", "/gatekeeper-users/gina/send/text",
                         {"to": "alice", "text": "two", "id": "G2"})
        message = await new.client.receive_until(
            lambda n: n.tag == "message" and n.attrs["id"] == "G2")
        assert message.child("enc").attrs["type"] == "pkmsg"
        decrypted = await new.party.decrypt(
            None, Address(gina), "pkmsg", message.child("enc").data)
        assert decode_content(decrypted.plaintext) == Text(text="two")
    finally:
        await new.client.close()


async def test_plaintext_that_is_not_content_is_listed_as_undecodable(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "x"})
        await alice.receive_content(gina)
        kind, ciphertext = await alice.party.encrypt(None, Address(gina), b"no padding here\x00")
        await alice.client.request(Node("message", {"id": "RAW", "to": gina, "type": "text"},
                                        [Node("enc", {"v": "2", "type": kind}, ciphertext)]))
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        [entry] = inbox["entries"]
        assert entry["content"] == {"kind": "undecodable", "error": "BadPadding"}
        assert base64.b64decode(entry["plaintext"]) == b"no padding here\x00"
    finally:
        await alice.client.close()


async def test_video_sticker_and_a_detailed_reply(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        status, _ = await admin.call("POST", "/gatekeeper-users/gina/send/media", {
            "to": "alice", "kind": "video", "data": base64.b64encode(b"mp4").decode(),
            "duration_seconds": 12, "width": 640, "height": 360,
            "reply_to": {"id": "A1", "participant": alice.login, "preview": "lunch?"}})
        assert status == 200
        message, content = await alice.receive_content(gina)
        assert message.attrs["type"] == "media" and isinstance(content, Video)
        assert (content.duration_seconds, content.width, content.media.mime_type) == (
            12, 640, "video/mp4")
        assert content.reply_to == ReplyTo(stanza_id=StanzaId("A1"), participant=alice.login,
                                           quoted_preview="lunch?")
        await admin.call("POST", "/gatekeeper-users/gina/send/media", {
            "to": "alice", "kind": "sticker", "data": base64.b64encode(b"webp").decode()})
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Sticker) and content.media.mime_type == "image/webp"
    finally:
        await alice.client.close()

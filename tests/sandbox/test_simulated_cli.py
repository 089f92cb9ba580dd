"""The admin command line's content commands, run as a real subprocess against a sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from bridge.content import Document, Location, Reaction, Text
from bridge.media import decrypt_media

from .conftest import ADMIN_SECRET
from .simulated_support import PartnerSide, download


async def cli(sandbox, *argv: str) -> tuple[int, dict]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.sandbox.admin_cli", "--url", sandbox.config.base_url,
        *argv, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "SANDBOX_ADMIN_SECRET": ADMIN_SECRET})
    out, _ = await process.communicate()
    return process.returncode, json.loads(out)


async def test_content_commands(sandbox, partner, tmp_path):
    code, created = await cli(sandbox, "create-user", "gina", "--simulate")
    assert code == 0
    gina = created["address"]
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        code, answer = await cli(sandbox, "send-text", "gina", "alice", "*bold* @alice",
                                 "--mention", "alice", "--id", "C1")
        assert code == 0 and answer["id"] == "C1"
        _, content = await alice.receive_content(gina)
        assert content == Text(text="*bold* @alice", mentions=(alice.login,))

        document = tmp_path / "notes.txt"
        document.write_bytes(b"meeting at noon\n")
        code, answer = await cli(sandbox, "send-media", "gina", alice.login, str(document),
                                 "--kind", "document", "--mime-type", "text/plain")
        assert code == 0
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Document) and content.file_name == "notes.txt"
        blob = await download(sandbox, content.media.path)
        assert decrypt_media(content.kind, blob, content.media.media_key,
                             content.media.sha256_enc, content.media.sha256_plain) == \
            document.read_bytes()

        assert (await cli(sandbox, "send-location", "gina", "alice", "48.85", "2.35"))[0] == 0
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Location)
        assert (await cli(sandbox, "react", "gina", "alice", "C1", "❤️"))[0] == 0
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Reaction) and content.text == "❤️"
        assert (await cli(sandbox, "unreact", "gina", "alice", "C1"))[0] == 0
        _, content = await alice.receive_content(gina)
        assert isinstance(content, Reaction) and content.is_revoke
        for command in (["reply", "gina", "alice", "C1", "yes"],
                        ["edit", "gina", "alice", "C1", "*bolder*"],
                        ["revoke", "gina", "alice", "C1"]):
            assert (await cli(sandbox, *command))[0] == 0
            await alice.receive_content(gina)

        await alice.send_content(gina, Text(text="got it"), stanza_id="A1")
        code, inbox = await cli(sandbox, "received", "gina")
        assert code == 0 and inbox["entries"][0]["content"]["text"] == "got it"

        # A send the gateway refuses exits 1 and shows the error.
        await cli(sandbox, "block", gina, alice.login)
        code, answer = await cli(sandbox, "send-text", "gina", "alice", "blocked?")
        assert code == 1 and answer["error"]["code"] == 409
    finally:
        await alice.client.close()

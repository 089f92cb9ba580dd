"""Reports (protocol §7.10): the bridge's gateway client sends them, the sandbox stores them,
applies the block asked for, shows them to operators, and refuses what is malformed."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys

import aiohttp
import pytest

from bridge.content import Text, encode_content
from bridge.content.padding import unpad
from bridge.gateway.client_api import GatewayRequests
from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorCode, GatewayError
from bridge.gateway.ids import Address, StanzaId
from bridge.gateway.reports import (
    MAX_REPORTED_MESSAGES,
    Report,
    ReportedMessage,
    ReportInvalid,
    report_request,
)

from .conftest import ADMIN_SECRET
from .helpers import Admin, connect_user, enlist_user
from .test_mailbox import make_gatekeeper_user
from .test_with_gateway_client import PartnerClient

SECRET_TEXT = "the plaintext only the report discloses"


def disclosed(text: str) -> bytes:
    return unpad(encode_content(Text(text=text)))


async def test_report_is_stored_blocks_and_is_shown_to_operators(sandbox, partner, caplog):
    caplog.set_level(logging.DEBUG)
    admin = Admin(sandbox, ADMIN_SECRET)
    mallory = await make_gatekeeper_user(admin, "mallory")
    async with aiohttp.ClientSession() as http:
        alice = PartnerClient(sandbox, partner, http, "alice")
        await alice.enlist()
        connection = alice.connect()
        api = GatewayRequests(connection)
        try:
            receipt = await api.report(Report(
                Address(mallory), "spam and threats",
                (ReportedMessage(StanzaId("M1"), 1764000000, disclosed(SECRET_TEXT)),
                 ReportedMessage(StanzaId("M2"), 1764000005, b"\x00not content")),
                block=True))
            assert receipt.blocked and receipt.report_id == "R1"
            # Without a block, and without messages: a report of a name alone.
            second = await api.report(Report(Address(mallory)))
            assert (second.report_id, second.blocked) == ("R2", False)

            with pytest.raises(GatewayError) as unknown:
                await api.report(Report(Address("4915199999999@gk")))
            assert unknown.value.code == ErrorCode.UNKNOWN_USER
            with pytest.raises(GatewayError) as itself:
                await api.report(Report(Address(alice.login)))
            assert itself.value.code == ErrorCode.BAD_REQUEST
        finally:
            await connection.close()

    status, blocks = await admin.call("GET", f"/blocks/{alice.login}")
    assert mallory in blocks["blocked"]
    status, listing = await admin.call("GET", f"/reports?reported={mallory}")
    assert status == 200 and [r["report_id"] for r in listing["reports"]] == ["R1", "R2"]
    first = listing["reports"][0]
    assert (first["reporter"], first["reporter_name"], first["reported_name"]) == (
        alice.login, "alice", "mallory")
    assert first["reason"] == "spam and threats" and first["block_requested"]
    assert [m["id"] for m in first["messages"]] == ["M1", "M2"]
    assert first["messages"][0]["t"] == 1764000000
    assert base64.b64decode(first["messages"][0]["plaintext"]) == disclosed(SECRET_TEXT)
    assert first["messages"][0]["content"]["kind"] == "text"
    assert first["messages"][0]["content"]["text"] == SECRET_TEXT
    assert first["messages"][1]["content"]["kind"] == "undecodable"
    status, one = await admin.call("GET", "/reports/R2")
    assert status == 200 and one["messages"] == [] and not one["block_requested"]
    assert (await admin.call("GET", "/reports/R9"))[0] == 404
    assert (await admin.call("GET", f"/reports?reporter={mallory}"))[1] == {"reports": []}

    # The disclosed plaintext is in no log line and not in the clear in the state file.
    assert SECRET_TEXT not in caplog.text
    raw = await sandbox.db.fetchval("SELECT sealed_messages FROM report WHERE report_id='R1'")
    assert SECRET_TEXT.encode() not in bytes(raw)


async def test_malformed_reports_are_refused(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    gina = await make_gatekeeper_user(admin, "gina")
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        await client.receive()  # <ib><mailbox/></ib>
        await client.receive()  # <ib><offline/></ib>
        bad = [
            Node("iq", {"id": "a", "type": "set", "xmlns": "report"}),
            Node("iq", {"id": "b", "type": "set", "xmlns": "report"},
                 [Node("report", {"jid": gina}, [Node("list", {}, [
                     Node("item", {"id": "M1"}, b"no time")])])]),
            Node("iq", {"id": "c", "type": "set", "xmlns": "report"},
                 [Node("report", {"jid": gina, "block": "maybe"})]),
            Node("iq", {"id": "d", "type": "set", "xmlns": "report"},
                 [Node("report", {"jid": gina, "reason": "x" * 1001})]),
        ]
        for node in bad:
            answer = await client.request(node)
            assert answer.attrs["type"] == "error", answer
            assert answer.child("error").attrs["code"] == "400"
    finally:
        await client.close()
    assert (await admin.call("GET", "/reports"))[1] == {"reports": []}


def test_reports_the_gateway_would_refuse_are_refused_before_sending():
    gina = Address("4915100000001@gk")
    many = tuple(ReportedMessage(StanzaId(f"M{i}"), 1, b"x")
                 for i in range(MAX_REPORTED_MESSAGES + 1))
    with pytest.raises(ReportInvalid, match="at most 50 messages"):
        report_request(StanzaId("q"), Report(gina, messages=many))
    with pytest.raises(ReportInvalid, match="over the gateway's limit"):
        report_request(StanzaId("q"), Report(gina, messages=(
            ReportedMessage(StanzaId("M1"), 1, b"x" * 70_000),)))
    with pytest.raises(ReportInvalid, match="twice"):
        report_request(StanzaId("q"), Report(gina, messages=(
            ReportedMessage(StanzaId("M1"), 1, b"x"), ReportedMessage(StanzaId("M1"), 2, b"y"))))
    with pytest.raises(ReportInvalid, match="one line"):
        report_request(StanzaId("q"), Report(gina, reason="two\nlines"))
    node = report_request(StanzaId("q"), Report(gina, "spam", (
        ReportedMessage(StanzaId("M1"), 7, b"\x01\x02"),), block=True))
    report = node.child("report")
    assert (node.attrs["xmlns"], report.attrs) == (
        "report", {"jid": gina, "reason": "spam", "block": "true"})
    item = report.child("list").child("item")
    assert (item.attrs, item.content) == ({"id": "M1", "t": "7"}, b"\x01\x02")


async def test_admin_cli_lists_reports(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    gina = await make_gatekeeper_user(admin, "gina")
    async with aiohttp.ClientSession() as http:
        alice = PartnerClient(sandbox, partner, http, "alice")
        await alice.enlist()
        connection = alice.connect()
        try:
            await GatewayRequests(connection).report(Report(Address(gina), "rude"))
        finally:
            await connection.close()
    env = {**os.environ, "SANDBOX_ADMIN_SECRET": ADMIN_SECRET}
    for argv in (["reports", "--reported", gina], ["report", "R1"]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge.sandbox.admin_cli", "--url", sandbox.config.base_url,
            *argv, stdout=asyncio.subprocess.PIPE, env=env)
        out, _ = await process.communicate()
        assert process.returncode == 0
        answer = json.loads(out)
        report = answer["reports"][0] if "reports" in answer else answer
        assert (report["report_id"], report["reason"]) == ("R1", "rude")

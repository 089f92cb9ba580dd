"""What a report can include: the last messages from each contact, sealed in the user's boundary,
and the arguments of `report` (both engines for the storage)."""

from __future__ import annotations

import pytest

from bridge.chats.reporting import ReportEvidence
from bridge.commands.registry import CommandError
from bridge.commands.reporting import parse_report_args
from bridge.gateway.ids import Address
from bridge.partner.client import InboundMessage
from bridge.storage import open_database
from bridge.trust import MasterKey, UserScopes, Vault

ALICE, BOB = "@alice:example.org", "@bob:example.org"
GINA, HUGO = Address("4915100000001@gk"), Address("4915100000002@gk")


def message(sender: Address, n: int, timestamp: int | None = 1764000000) -> InboundMessage:
    return InboundMessage(f"M{n}", sender, f"secret words {n}".encode() + b"\x01", timestamp)


async def test_keeps_the_last_messages_per_contact_sealed_and_once(db_url):
    db = await open_database(db_url)
    try:
        evidence = ReportEvidence(db, UserScopes(Vault(MasterKey.generate())), keep=3)
        for n in range(5):
            await evidence.record(ALICE, message(GINA, n, 1764000000 + n))
        await evidence.record(ALICE, message(GINA, 4, 1))  # a redelivery changes nothing
        await evidence.record(ALICE, message(HUGO, 9))
        await evidence.record(BOB, message(GINA, 7, None))
        assert await evidence.count(ALICE, GINA) == 3
        latest = await evidence.latest(ALICE, GINA, 2)
        assert [(m.stanza_id, m.sent_at) for m in latest] == [("M3", 1764000003),
                                                              ("M4", 1764000004)]
        assert latest[0].plaintext == b"secret words 3\x01"
        assert await evidence.get(ALICE, GINA, "M1") is None  # beyond the last 3: dropped
        assert await evidence.get(ALICE, HUGO, "M9") is not None
        assert await evidence.get(BOB, GINA, "M7") is not None
        assert await evidence.get(BOB, GINA, "M3") is None  # another user's are not theirs
        for row in await db.fetch("SELECT sealed FROM report_evidence"):
            assert b"secret words" not in bytes(row["sealed"])
        off = ReportEvidence(db, evidence.scopes, keep=0)
        await off.record(ALICE, message(HUGO, 10))
        assert await off.count(ALICE, HUGO) == 1
    finally:
        await db.stop()


def test_report_arguments():
    parsed = parse_report_args(["@gina", "--last", "3", "sends", "--block", "spam"],
                               username_required=True)
    assert (parsed.username, parsed.last, parsed.block, parsed.reason) == (
        "gina", 3, True, "sends spam")
    assert parse_report_args(["--last=2", "gina"], username_required=True).last == 2
    in_portal = parse_report_args(["Gina", "rude"], username_required=False,
                                  contact_username="gina")
    assert (in_portal.username, in_portal.reason) == ("Gina", "rude")
    assert parse_report_args(["rude"], username_required=False,
                             contact_username="gina").reason == "rude"
    for bad in (["gina", "--last", "x"], ["gina", "--last", "0"], ["gina", "--last"],
                ["gina", "--all"], ["--block"]):
        with pytest.raises(CommandError):
            parse_report_args(bad, username_required=True)

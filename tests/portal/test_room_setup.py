"""The pure parts: what a new room's state says and how failures are explained."""

from __future__ import annotations

from bridge.matrix.portals.room_setup import (
    bridge_state_key,
    initial_state,
    power_levels_override,
    topic_for,
)
from bridge.matrix.send_status import (
    SendFailure,
    failure_notice_text,
    failure_text,
    status_content,
)

BOT, GHOST = "@bot:hs", "@ghost:hs"


def test_power_levels_list_the_ghost_only_where_it_is_no_creator():
    assert power_levels_override(bot=BOT, ghost=GHOST, room_version="12")["users"] == {BOT: 100}
    assert power_levels_override(bot=BOT, ghost=GHOST, room_version="10")["users"] == {
        BOT: 100, GHOST: 100}
    assert power_levels_override(bot=BOT, ghost=GHOST, room_version="12")["events_default"] == 0


def test_initial_state_encrypted_or_not():
    encrypted = initial_state(bot=BOT, ghost=GHOST, contact_id="1-2@interop",
                              contact_name="Bob", encrypted=True)
    plain = initial_state(bot=BOT, ghost=GHOST, contact_id="1-2@interop", contact_name="Bob",
                          encrypted=False)
    assert {e["type"] for e in encrypted} - {e["type"] for e in plain} == {"m.room.encryption"}
    bridge = next(e for e in plain if e["type"] == "m.bridge")
    assert bridge["state_key"] == bridge_state_key("1-2@interop")
    assert bridge["content"]["channel"] == {"id": "1-2@interop", "displayname": "Bob"}
    assert not any(e["type"] == "m.room.name" for e in encrypted)
    assert "Bob" in topic_for("Bob")


def test_every_failure_has_a_readable_reason_and_a_status():
    for failure in SendFailure:
        text = failure_notice_text(failure, "Bob")
        assert "Bob" in text and text.startswith("⚠️")
        content = status_content("$e", failure.status, reason=failure.reason,
                                 message=failure_text(failure, "Bob"))
        assert content["status"] in ("FAIL_PERMANENT", "FAIL_RETRIABLE")
        assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$e"}
    assert SendFailure.GATEWAY_UNREACHABLE.retrying
    assert not SendFailure.NOT_OPTED_IN.retrying
    too_large = failure_text(SendFailure.TOO_LARGE, "Bob",
                             "the video is 70 MiB, larger than the 64 MiB limit for videos")
    assert too_large.startswith("the video is 70 MiB")

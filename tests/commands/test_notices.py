"""Notices to a user: posted in their management room, and nowhere when they have none.

The users are the real ``matrix_user`` table (both database engines); the sender records the
notices instead of sending them to a homeserver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mautrix.types import EventID, RoomID, UserID

from bridge.matrix.notices import UserNotices
from bridge.matrix.users import MatrixUsers
from bridge.storage import Database, open_database

ALICE, BOB = UserID("@alice:example.org"), UserID("@bob:example.org")
ALICE_ROOM = RoomID("!management:example.org")


class RecordingSender:
    """Stands in for MatrixSender: keeps what would be sent as the bot."""

    def __init__(self) -> None:
        self.notices: list[tuple[RoomID, str]] = []

    async def send_notice(self, room_id: RoomID, text: str) -> EventID:
        self.notices.append((room_id, text))
        return EventID(f"$notice{len(self.notices)}")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    db = await open_database(db_url)
    try:
        yield db
    finally:
        await db.stop()


async def test_a_notice_goes_to_the_management_room(db: Database) -> None:
    users, sender = MatrixUsers(db), RecordingSender()
    await users.set_management_room(ALICE, ALICE_ROOM)
    await UserNotices(users, sender).notify(ALICE, "Your connection is back.")
    assert sender.notices == [(ALICE_ROOM, "Your connection is back.")]


async def test_nothing_is_sent_without_a_management_room(db: Database) -> None:
    users, sender = MatrixUsers(db), RecordingSender()
    notices = UserNotices(users, sender)
    await notices.notify(BOB, "unknown to the bridge")
    await users.get_or_create(BOB)  # known, but has not invited the bot to a DM yet
    await notices.notify(BOB, "no room yet")
    assert sender.notices == []

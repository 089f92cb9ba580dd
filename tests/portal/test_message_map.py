"""The message map on both engines: both directions, duplicates refused both ways."""

from __future__ import annotations

import pytest

from bridge.matrix.portals import DuplicateMessage, MessageMap
from bridge.storage import open_database

ROOM = "!portal:localhost"
OTHER_ROOM = "!other:localhost"
CONTACT = "1-10853634039893@interop"
ME = "1-555@interop"


@pytest.fixture
async def messages(db_url):
    db = await open_database(db_url)
    for room, contact in ((ROOM, CONTACT), (OTHER_ROOM, "1-2@interop")):
        await db.execute(
            "INSERT INTO portal (user_id, contact_id, room_id, contact_name, encrypted, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            "@alice:localhost", contact, room, "Bob", True, 0)
    try:
        yield MessageMap(db)
    finally:
        await db.stop()


async def test_round_trip_both_ways(messages):
    added = await messages.add(room_id=ROOM, event_id="$theirs", stanza_id="3EB0A1",
                               sender=CONTACT, from_matrix=False, timestamp=1000)
    mine = await messages.add(room_id=ROOM, event_id="$mine", stanza_id="ABCD",
                              sender=ME, from_matrix=True, timestamp=2000)
    assert await messages.by_event("$theirs") == added
    assert await messages.by_stanza(ROOM, "3EB0A1", CONTACT) == added
    assert await messages.by_stanza(ROOM, "3EB0A1") == added
    assert await messages.by_event("$mine") == mine and mine.from_matrix is True
    assert added.from_matrix is False and added.timestamp == 1000
    assert await messages.by_stanza(ROOM, "3EB0A1", ME) is None
    assert await messages.by_stanza(OTHER_ROOM, "3EB0A1") is None
    assert await messages.by_event("$nothing") is None
    assert await messages.latest(ROOM) == mine
    assert await messages.latest(ROOM, from_matrix=False) == added


async def test_duplicates_are_refused_both_ways(messages):
    await messages.add(room_id=ROOM, event_id="$a", stanza_id="S1", sender=CONTACT,
                       from_matrix=False, timestamp=1)
    with pytest.raises(DuplicateMessage):  # same event, another stanza
        await messages.add(room_id=ROOM, event_id="$a", stanza_id="S2", sender=CONTACT,
                           from_matrix=False)
    with pytest.raises(DuplicateMessage):  # same stanza from the same sender, another event
        await messages.add(room_id=ROOM, event_id="$b", stanza_id="S1", sender=CONTACT,
                           from_matrix=False)
    # Stanza IDs are the sender's: the same ID from someone else, or elsewhere, is another message.
    await messages.add(room_id=ROOM, event_id="$c", stanza_id="S1", sender=ME, from_matrix=True,
                       timestamp=2)
    await messages.add(room_id=OTHER_ROOM, event_id="$d", stanza_id="S1", sender=CONTACT,
                       from_matrix=False)
    assert (await messages.by_event("$a")).stanza_id == "S1"
    # Without a sender the newest message with that stanza ID answers.
    assert (await messages.by_stanza(ROOM, "S1")).event_id == "$c"
    assert (await messages.by_stanza(ROOM, "S1", CONTACT)).event_id == "$a"


async def test_messages_belong_to_a_portal(messages):
    with pytest.raises(Exception) as caught:
        await messages.add(room_id="!unknown:localhost", event_id="$x", stanza_id="S",
                           sender=CONTACT, from_matrix=False)
    assert not isinstance(caught.value, DuplicateMessage)


async def test_delete_and_cascade(messages):
    await messages.add(room_id=ROOM, event_id="$a", stanza_id="S1", sender=CONTACT,
                       from_matrix=False)
    await messages.add(room_id=OTHER_ROOM, event_id="$b", stanza_id="S1", sender=CONTACT,
                       from_matrix=False)
    assert await messages.delete_by_event("$a") is True
    assert await messages.delete_by_event("$a") is False
    assert await messages.by_stanza(ROOM, "S1") is None
    await messages.db.execute("DELETE FROM portal WHERE room_id=$1", OTHER_ROOM)
    assert await messages.by_event("$b") is None

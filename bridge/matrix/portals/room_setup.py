"""What a new portal room looks like: pure functions from names to ``createRoom`` pieces.

Layout chosen for sane power levels:

- The contact's **ghost creates** the room and invites the Matrix user with ``is_direct``, so the
  user's client files the room as a direct chat *with the ghost* (``m.direct`` is keyed by the
  inviter). In room versions with creator power (12 and later) the ghost is the creator; before
  that it gets power level 100.
- The **bridge bot** gets power level 100 and joins before the user is invited: clients share
  Megolm keys only with members, and ghosts have no devices. With 100 the bot can make the room
  read-only, update the bridge info and post notices whatever happens to the ghost.
- The **Matrix user** stays at 0 (preset ``private_chat``, not ``trusted_private_chat``, which
  would make the invitee an extra creator with power nobody could take back). Everything a person
  does in a chat (messages, reactions, deleting their own messages) needs only
  ``events_default`` = 0; read-only mode raises that to 50.
- No room name: clients name a DM after its other members. The bot is listed in
  ``io.element.functional_members`` so that clients leave it out of that name.
"""

from __future__ import annotations

from typing import Any

from mautrix.types import EventType, RoomCreateStateEventContent, UserID

PROTOCOL_ID = "interop"
PROTOCOL_NAME = "Third-party messaging"
# The bridge info is published under both the stable and the older unstable type (MSC2346).
BRIDGE_INFO_TYPES = (
    EventType.find("m.bridge", EventType.Class.STATE),
    EventType.find("uk.half-shot.bridge", EventType.Class.STATE),
)
# Level the user must reach to send anything once a portal is read-only.
READ_ONLY_LEVEL = 50


def bridge_state_key(contact_id: str) -> str:
    return f"net.interop-bridge://{PROTOCOL_ID}/{contact_id}"


def bridge_info(*, bot: UserID, ghost: UserID, contact_id: str, contact_name: str
                ) -> dict[str, Any]:
    """The ``m.bridge`` / ``uk.half-shot.bridge`` content (MSC2346)."""
    return {
        "bridgebot": bot,
        "creator": ghost,
        "protocol": {"id": PROTOCOL_ID, "displayname": PROTOCOL_NAME},
        "channel": {"id": contact_id, "displayname": contact_name},
    }


def topic_for(contact_name: str) -> str:
    return (f"Chat with {contact_name}, who uses another messaging service. "
            "Messages reach them through this server's third-party chat bridge.")


def creator_has_power(room_version: str) -> bool:
    """Whether the room's creators outrank every power level (MSC4289, room version 12+)."""
    return RoomCreateStateEventContent(room_version=room_version).supports_creator_power


def power_levels_override(*, bot: UserID, ghost: UserID, room_version: str) -> dict[str, Any]:
    # Synapse replaces the whole "users" map with this one, so the ghost is listed whenever it is
    # not a creator by room version; listing a creator there is invalid.
    users = {bot: 100}
    if not creator_has_power(room_version):
        users[ghost] = 100
    return {"users": users, "users_default": 0, "events_default": 0}


def initial_state(*, bot: UserID, ghost: UserID, contact_id: str, contact_name: str,
                  encrypted: bool) -> list[dict[str, Any]]:
    info = bridge_info(bot=bot, ghost=ghost, contact_id=contact_id, contact_name=contact_name)
    state: list[dict[str, Any]] = [
        {"type": str(event_type), "state_key": bridge_state_key(contact_id), "content": info}
        for event_type in BRIDGE_INFO_TYPES
    ] + [
        {"type": "io.element.functional_members", "state_key": "",
         "content": {"service_members": [bot]}},
    ]
    if encrypted:
        state.append({"type": "m.room.encryption", "state_key": "",
                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
    return state


def read_only_notice(reason: str) -> str:
    return f"This chat is now read-only: {reason}"

"""Permission levels from the config's ``bridge.permissions`` map."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from mautrix.types import UserID


class Level(IntEnum):
    NONE = 0
    USER = 1
    ADMIN = 2


def permission_level(permissions: Mapping[str, str], user_id: UserID) -> Level:
    """The most specific entry wins: the full user ID, then the homeserver domain, then ``*``."""
    domain = user_id.split(":", 1)[1] if ":" in user_id else ""
    for key in (user_id, domain, "*"):
        if key in permissions:
            return Level[permissions[key].upper()]
    return Level.NONE

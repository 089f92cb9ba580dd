"""Portals: one Matrix room per (Matrix user, contact), and the map of messages bridged in it.

``Portals`` finds or creates them, ``Portal`` sends into one, reports send statuses and maps
receipts, ``MessageMap`` keeps Matrix event IDs and gateway stanza IDs paired both ways.
See ``docs/portals.md``.
"""

from __future__ import annotations

import logging

from mautrix.appservice import AppService

from ...config import Config
from ...storage import Database
from ..puppet import Puppets
from ..sending import MatrixSender
from ..spaces import InboxSpaces
from .messages import DuplicateMessage, MappedMessage, MessageMap
from .portal import BRIDGED_FROM, Portal, PortalRecord, SendAs
from .registry import Portals

__all__ = ["BRIDGED_FROM", "DuplicateMessage", "MappedMessage", "MessageMap", "Portal",
           "PortalRecord", "Portals", "SendAs", "build_portals"]


def build_portals(config: Config, appservice: AppService, db: Database, sender: MatrixSender,
                  *, spaces: InboxSpaces, encryption_ready: bool,
                  log: logging.Logger) -> tuple[Puppets, Portals]:
    """Puppets and portals as the bridge's config describes them. New portals are encrypted when
    ``bridge.encryption.default`` is on and the bot's encryption device is running."""
    puppets = Puppets(appservice, db, username_template=config["bridge.username_template"],
                      displayname_template=config["bridge.displayname_template"],
                      domain=config["homeserver.domain"], log=log.getChild("puppet"))
    portals = Portals(appservice, db, puppets=puppets, sender=sender,
                      encrypt_new_rooms=encryption_ready and config["bridge.encryption.default"],
                      spaces=spaces, log=log.getChild("portal"))
    return puppets, portals

"""Receipts, typing and the gateway's notifications about contacts, in both directions.

Gateway → Matrix: a contact's delivery/read receipts become send statuses and the ghost's read
marker; their typing becomes the ghost's typing; identity changes and opt-outs become notices.
Matrix → gateway: the portal owner's read receipts and typing become receipts and chat states.
"""

from __future__ import annotations

import logging

from mautrix.types import EventID, RoomID, UserID

from ..gateway.codec import Node
from ..gateway.ids import Address
from ..matrix.portals import Portal, Portals
from ..partner.client import PartnerClient
from ..partner.service import PartnerService
from .message_ids import MessageIds

log = logging.getLogger("bridge.chats.signals")

TYPING_TIMEOUT_MS = 30_000


def identity_change_notice(name: str) -> str:
    return (f"⚠️ **Security notice:** {name}'s security key changed. This happens when they "
            "reinstall their app or change phones, but could also mean someone else is "
            "answering for them. Check with them another way if that matters to you.")


def blocked_notice(name: str, blocked: bool) -> str:
    if blocked:
        return (f"You blocked {name}. Neither of you can message the other; "
                "send `!interop unblock` here to undo it.")
    return f"You unblocked {name}."


def opted_out_notice(name: str) -> str:
    return (f"{name} turned off third-party chats. Messages you send here can no longer reach "
            "them.")


class ContactSignalsFlow:
    def __init__(self, *, portals: Portals, partners: PartnerService,
                 message_ids: MessageIds) -> None:
        self.portals = portals
        self.partners = partners
        self.message_ids = message_ids
        self._typing: dict[RoomID, bool] = {}

    # --- gateway → Matrix --------------------------------------------------------------------

    async def receipt(self, client: PartnerClient, sender: Address, stanza_ids: list[str],
                      read: bool) -> None:
        portal = await self.portals.get(client.mxid, sender)
        if portal is not None:
            await portal.handle_contact_receipt(stanza_ids, read=read)

    async def chatstate(self, client: PartnerClient, sender: Address, composing: bool) -> None:
        portal = await self.portals.get(client.mxid, sender)
        if portal is not None:
            await portal.ghost.intent.set_typing(portal.room_id,
                                                 timeout=TYPING_TIMEOUT_MS if composing else 0)

    async def notification(self, client: PartnerClient, kind: str, sender: Address,
                           node: Node) -> None:
        if kind == "blocklist":
            # The blocklist changed elsewhere (another session, the gateway): follow it.
            for item in node.children_by_tag("item"):
                portal = await self.portals.get(client.mxid, Address(item.attrs.get("jid", "")))
                blocked = item.attrs.get("action") == "block"
                if portal is not None and portal.blocked != blocked:
                    await portal.set_blocked(blocked)
                    await portal.send_notice(blocked_notice(portal.ghost.username, blocked))
            return
        portal = await self.portals.get(client.mxid, sender)
        if portal is None:
            return
        if kind == "identity-change":
            await portal.send_notice(identity_change_notice(portal.ghost.username))
        elif kind == "opt-out":
            await portal.set_read_only(opted_out_notice(portal.ghost.username))

    # --- Matrix → gateway --------------------------------------------------------------------

    async def matrix_receipt(self, portal: Portal, content: dict) -> None:
        client = self.partners.client(portal.user_mxid)
        if client is None:
            return
        for event_id, receipts in content.items():
            readers = (receipts or {}).get("m.read", {})
            if portal.user_mxid not in readers:
                continue
            message = await self.message_ids.message_by_event(EventID(event_id))
            if message is not None and not message.from_matrix:
                await client.send_receipt(message.stanza_id, Address(portal.contact_id),
                                          read=True)

    async def matrix_typing(self, portal: Portal, user_ids: list[UserID]) -> None:
        client = self.partners.client(portal.user_mxid)
        if client is None:
            return
        composing = portal.user_mxid in user_ids
        if self._typing.get(portal.room_id, False) == composing:
            return
        self._typing[portal.room_id] = composing
        await client.requests.send_chatstate(Address(portal.contact_id), composing)

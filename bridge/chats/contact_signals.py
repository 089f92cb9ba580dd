"""Receipts, typing and the gateway's notifications about contacts, in both directions.

Gateway → Matrix: a contact's delivery/read receipts become send statuses and the ghost's read
marker; their typing becomes the ghost's typing; identity changes and opt-outs become notices.
Matrix → gateway: the portal owner's read receipts and typing become receipts and chat states.
"""

from __future__ import annotations

import logging

from mautrix.types import EventID, RoomID, UserID

from ..gateway.received import (
    BlocklistChange,
    Chatstate,
    ContactOptedOut,
    IdentityChangeNotice,
    OtherNotification,
    Receipt,
)
from ..matrix.notices import UserNotices
from ..matrix.portals import Portal, Portals
from ..partner.client import PartnerClient
from ..partner.events import IdentityChanged
from ..partner.service import PartnerService
from ..signal.errors import IdentityChange
from ..signal.party import safety_code
from .message_ids import MessageIds

log = logging.getLogger("bridge.chats.contact_signals")

TYPING_TIMEOUT_MS = 30_000


def identity_change_notice(name: str) -> str:
    return (f"⚠️ **Security notice:** {name}'s security key changed. This happens when they "
            "reinstall their app or change phones, but could also mean someone else is "
            "answering for them. Check with them another way if that matters to you.")


def trust_instructions(name: str, command_prefix: str) -> str:
    return (f"send `{command_prefix} trust` here, or `trust {name}` to the bridge bot in your "
            "management room")


def changed_key_notice(name: str, change: IdentityChange, *, held: bool,
                       command_prefix: str) -> str:
    """The security notice with both keys' safety codes; with ``held``, how to confirm."""
    lines = [(f"⚠️ **Security notice:** {name}'s security key changed. This happens when they "
              "reinstall their app or change phones, but could also mean someone else is "
              "answering for them."), "",
             f"- old key: `{safety_code(change.previous_identity_key)}`",
             f"- new key: `{safety_code(change.new_identity_key)}`", ""]
    if held:
        lines.append(f"Compare the new key with {name} another way (in person, or a call). "
                     f"Until you confirm it, nothing is sent to {name} and nothing from them is "
                     "shown; it is all kept. To confirm the new key, "
                     f"{trust_instructions(name, command_prefix)}.")
    else:
        lines.append(f"Check with {name} another way if that matters to you.")
    return "\n".join(lines)


def held_message_notice(name: str, command_prefix: str) -> str:
    return (f"⏳ Not sent yet: waiting for you to confirm {name}'s new security key. It is kept "
            f"and sent once you confirm: {trust_instructions(name, command_prefix)}.")


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
                 message_ids: MessageIds, notices: UserNotices,
                 command_prefix: str = "!interop") -> None:
        self.portals = portals
        self.partners = partners
        self.message_ids = message_ids
        self.notices = notices
        self.command_prefix = command_prefix
        self._typing: dict[RoomID, bool] = {}

    # --- gateway → Matrix --------------------------------------------------------------------

    async def receipt(self, client: PartnerClient, receipt: Receipt) -> None:
        portal = await self.portals.get(client.user_id, receipt.sender)
        if portal is not None:
            await portal.handle_contact_receipt(list(receipt.stanza_ids), read=receipt.read)

    async def chatstate(self, client: PartnerClient, chatstate: Chatstate) -> None:
        portal = await self.portals.get(client.user_id, chatstate.sender)
        if portal is not None:
            timeout = TYPING_TIMEOUT_MS if chatstate.composing else 0
            await portal.ghost.intent.set_typing(portal.room_id, timeout=timeout)

    async def notification(self, client: PartnerClient,
                           notification: IdentityChangeNotice | BlocklistChange
                           | ContactOptedOut | OtherNotification) -> None:
        if isinstance(notification, BlocklistChange):
            # The blocklist changed elsewhere (another session, the gateway): follow it.
            for entry in notification.entries:
                portal = await self.portals.get(client.user_id, entry.address)
                if portal is not None and portal.blocked != entry.blocked:
                    await portal.set_blocked(entry.blocked)
                    await portal.send_notice(blocked_notice(portal.ghost.username,
                                                            entry.blocked))
            return
        portal = await self.portals.get(client.user_id, notification.sender)
        if portal is None:
            return
        if isinstance(notification, IdentityChangeNotice):
            await portal.send_notice(identity_change_notice(portal.ghost.username))
        elif isinstance(notification, ContactOptedOut):
            await portal.set_read_only(opted_out_notice(portal.ghost.username))

    async def identity_changed(self, client: PartnerClient, event: IdentityChanged) -> None:
        portal = await self.portals.get(client.user_id, event.contact)
        name = portal.ghost.username if portal is not None else event.contact
        text = changed_key_notice(name, event.change, held=event.held,
                                  command_prefix=self.command_prefix)
        if portal is not None:
            await portal.send_notice(text)
        else:
            await self.notices.notify(client.user_id, text)

    # --- Matrix → gateway --------------------------------------------------------------------

    async def matrix_receipt(self, portal: Portal, content: dict) -> None:
        client = self.partners.client(portal.user_id)
        if client is None:
            return
        for event_id, receipts in content.items():
            readers = (receipts or {}).get("m.read", {})
            if portal.user_id not in readers:
                continue
            message = await self.message_ids.message_by_event(EventID(event_id))
            if message is not None and not message.from_matrix:
                await client.send_receipt(message.stanza_id, portal.contact_id,
                                          read=True)

    async def matrix_typing(self, portal: Portal, user_ids: list[UserID]) -> None:
        client = self.partners.client(portal.user_id)
        if client is None:
            return
        composing = portal.user_id in user_ids
        if self._typing.get(portal.room_id, False) == composing:
            return
        self._typing[portal.room_id] = composing
        await client.requests.send_chatstate(portal.contact_id, composing)

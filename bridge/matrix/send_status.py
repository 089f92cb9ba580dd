"""Whether a Matrix user's message reached the other service, shown in the room.

Two signals, as mautrix bridges give them:

- a ``com.beeper.message_send_status`` event referencing the user's event (``network``,
  ``m.relates_to`` of type ``m.reference``, ``status`` SUCCESS/PENDING/FAIL_RETRIABLE/
  FAIL_PERMANENT, a machine ``reason``, a human ``message``), which clients that know it draw as a
  tick or a warning next to the message;
- for failures, an ``m.notice`` from the bridge bot in reply to the message, with a reason a person
  understands, so that clients without status support show it too.

Building the content is pure (:func:`status_content`, :func:`failure_notice_text`); sending goes
through :class:`~bridge.matrix.sending.MatrixSender`. Texts name the problem, never the message.
"""

from __future__ import annotations

import logging
from enum import Enum

from attrs import define
from mautrix.types import (
    BeeperMessageStatusEventContent,
    EventID,
    EventType,
    MessageStatus,
    MessageStatusReason,
    RelatesTo,
    RelationType,
    RoomID,
    UserID,
)

from .sending import MatrixSender

NETWORK = "interop"


@define(frozen=True)
class _Failure:
    status: MessageStatus
    reason: MessageStatusReason
    # Shown to the person; {contact} is the contact's user-visible name.
    text: str


class SendFailure(Enum):
    """Why a message did not reach the contact, with what the person is told."""

    NOT_OPTED_IN = _Failure(
        MessageStatus.FAIL, MessageStatusReason.NO_PERMISSION,
        "{contact} cannot receive messages from other services: they have not turned on "
        "third-party chats, or have turned them off.",
    )
    BLOCKED = _Failure(
        MessageStatus.FAIL, MessageStatusReason.NO_PERMISSION,
        "The message was not delivered because {contact} is blocked, or has blocked you.",
    )
    TOO_LARGE = _Failure(
        MessageStatus.FAIL, MessageStatusReason.UNSUPPORTED,
        "The message is too large to send to {contact}'s service.",
    )
    GATEWAY_UNREACHABLE = _Failure(
        MessageStatus.RETRIABLE, MessageStatusReason.NETWORK_ERROR,
        "{contact}'s service cannot be reached right now. The bridge keeps trying and will "
        "deliver the message when it can.",
    )
    UNSUPPORTED = _Failure(
        MessageStatus.FAIL, MessageStatusReason.UNSUPPORTED,
        "This kind of message cannot be sent to {contact}'s service.",
    )
    SENDER_OPTED_OUT = _Failure(
        MessageStatus.FAIL, MessageStatusReason.NO_PERMISSION,
        "Third-party chats are off for you, so nothing reaches {contact}. Send `opt-in` to "
        "the bridge bot to turn them on.",
    )
    SENDER_NOT_ALLOWED = _Failure(
        MessageStatus.FAIL, MessageStatusReason.NO_PERMISSION,
        "The bridge's settings no longer let you use it, so nothing reaches {contact}. Ask the "
        "bridge's admins.",
    )
    UNDECRYPTABLE = _Failure(
        MessageStatus.FAIL, MessageStatusReason.UNDECRYPTABLE,
        "The bridge could not decrypt this message, so it was not sent to {contact}. Your "
        "client may not have shared its keys with the bridge yet; try sending it again.",
    )

    @property
    def status(self) -> MessageStatus:
        return self.value.status

    @property
    def reason(self) -> MessageStatusReason:
        return self.value.reason

    @property
    def retrying(self) -> bool:
        return self.value.status == MessageStatus.RETRIABLE


def failure_text(failure: SendFailure, contact: str, detail: str | None = None) -> str:
    """The person-readable explanation; ``detail`` (e.g. "the video is 70 MiB, larger than the
    64 MiB limit") replaces the generic text where the caller knows better."""
    text = failure.value.text.format(contact=contact)
    if detail:
        text = f"{text} ({detail})" if failure != SendFailure.TOO_LARGE else detail
    return text


def failure_notice_text(failure: SendFailure, contact: str, detail: str | None = None) -> str:
    lead = "Not delivered yet" if failure.retrying else "Your message was not delivered"
    return f"⚠️ {lead}: {failure_text(failure, contact, detail)}"


def status_content(event_id: EventID, status: MessageStatus, *,
                   reason: MessageStatusReason | None = None, message: str | None = None,
                   delivered_to: list[UserID] | None = None) -> dict:
    """The ``com.beeper.message_send_status`` content for ``event_id``."""
    content = BeeperMessageStatusEventContent(
        relates_to=RelatesTo(rel_type=RelationType.REFERENCE, event_id=event_id),
        network=NETWORK, status=status, reason=reason, message=message,
    ).serialize()
    if delivered_to is not None:
        content["delivered_to_users"] = list(delivered_to)
    return content


class SendStatusReporter:
    """Posts statuses into one room. Status events go unencrypted: they say nothing of the message
    but whether it arrived, and a homeserver-side component may need to read them; the failure
    notice goes encrypted like every other notice."""

    def __init__(self, sender: MatrixSender, room_id: RoomID, contact_name: str, *,
                 log: logging.Logger | None = None) -> None:
        self.sender = sender
        self.room_id = room_id
        self.contact_name = contact_name
        self.log = log or logging.getLogger("bridge.matrix.send_status")

    async def _post(self, content: dict) -> EventID:
        return await self.sender.send(self.room_id, EventType.BEEPER_MESSAGE_STATUS, content,
                                      encrypt=False)

    async def pending(self, event_id: EventID) -> EventID:
        return await self._post(status_content(event_id, MessageStatus.PENDING))

    async def waiting(self, event_id: EventID, text: str) -> EventID:
        """Still pending, for a reason the person has to act on: the status says why, and a
        notice in reply to the message says it to clients that do not show statuses."""
        await self._post(status_content(event_id, MessageStatus.PENDING, message=text))
        return await self.sender.send_notice(self.room_id, text, reply_to=event_id)

    async def success(self, event_id: EventID, *, delivered_to: list[UserID] | None = None
                      ) -> EventID:
        return await self._post(status_content(event_id, MessageStatus.SUCCESS,
                                               delivered_to=delivered_to))

    async def failure(self, event_id: EventID, failure: SendFailure, *,
                      detail: str | None = None, notice: bool = True) -> EventID | None:
        """Post the failure status and (unless ``notice=False``, e.g. for a repeated retriable
        failure) a notice replying to the message. Returns the notice's event ID."""
        text = failure_text(failure, self.contact_name, detail)
        await self._post(status_content(event_id, failure.status, reason=failure.reason,
                                        message=text))
        self.log.info("Message %s not delivered: %s", event_id, failure.name)
        if not notice:
            return None
        return await self.sender.send_notice(
            self.room_id, failure_notice_text(failure, self.contact_name, detail),
            reply_to=event_id,
        )

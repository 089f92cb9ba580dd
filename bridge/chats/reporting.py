"""Reporting a contact to the gatekeeper, with the messages the user picks ("block and report").

The messages come from inside the reporter's own trust boundary: the bridge keeps the last few
decrypted messages from each contact, sealed under the user's data key
(:class:`ReportEvidence`, ``bridge.reportable_messages``), because once a message is in the
user's Megolm-encrypted portal the bridge no longer has its plaintext. Nothing is disclosed
unless the user picks it (``--last N`` or replying to the message). Plaintext is never logged.
"""

from __future__ import annotations

import time

from attrs import define
from mautrix.types import UserID

from ..content.errors import BadPadding
from ..content.padding import unpad
from ..gateway.connection import ConnectionUnavailable
from ..gateway.errors import ErrorCode, GatewayError
from ..gateway.ids import Address, StanzaId
from ..gateway.reports import Report, ReportedMessage, ReportInvalid
from ..matrix.portals import Portals
from ..partner.client import PartnerClient
from ..partner.events import InboundMessage
from ..signal.durable import arrival_stamp
from ..signal.types import UserId
from ..storage import Connection, Database, acquire, transaction
from ..trust import Purpose, UserScopes
from .blocking import blocked_locally
from .requests import MessageRequests

_EVIDENCE = Purpose.REPORT_EVIDENCE



@define(frozen=True)
class KeptMessage:
    stanza_id: str
    #: The gateway's time of the message (Unix seconds).
    sent_at: int
    #: As decrypted: the padded content plaintext.
    plaintext: bytes


def _name(contact: str, stanza_id: str) -> str:
    return f"{contact}\n{stanza_id}"


class ReportEvidence:
    """The last ``keep`` messages from each contact of each user, sealed in their boundary."""

    def __init__(self, db: Database, scopes: UserScopes, keep: int) -> None:
        self.db = db
        self.scopes = scopes
        self.keep = keep

    async def record(self, user: UserID, message: InboundMessage) -> None:
        """Keep a message from a contact (again: nothing changes); drop what is beyond the last
        ``keep`` from that contact."""
        if self.keep <= 0:
            return
        sent_at = message.timestamp if message.timestamp is not None else int(time.time())
        async with acquire(self.db) as conn, transaction(conn):
            boundary = await self.scopes.of(UserId(user)).boundary(conn)
            sealed = boundary.seal(_EVIDENCE, _name(message.sender, message.stanza_id),
                                   message.plaintext)
            await conn.execute(
                "INSERT INTO report_evidence (user_id, contact_id, stanza_id, sent_at, kept_at,"
                " sealed) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (user_id, contact_id, stanza_id) DO NOTHING",
                user, message.sender, message.stanza_id, sent_at, arrival_stamp(), sealed)
            await conn.execute(
                "DELETE FROM report_evidence WHERE user_id=$1 AND contact_id=$2 AND stanza_id"
                " NOT IN (SELECT stanza_id FROM report_evidence WHERE user_id=$1 AND"
                " contact_id=$2 ORDER BY kept_at DESC LIMIT $3)", user, message.sender, self.keep)

    async def count(self, user: UserID, contact: Address) -> int:
        return await self.db.fetchval(
            "SELECT COUNT(*) FROM report_evidence WHERE user_id=$1 AND contact_id=$2",
            user, contact)

    async def forget_user(self, conn: Connection, user: UserId) -> None:
        await conn.execute("DELETE FROM report_evidence WHERE user_id=$1", user)

    async def latest(self, user: UserID, contact: Address, count: int) -> list[KeptMessage]:
        """The newest ``count`` kept messages from ``contact``, oldest first."""
        async with acquire(self.db) as conn:
            rows = await conn.fetch(
                "SELECT stanza_id, sent_at, sealed FROM report_evidence WHERE user_id=$1 AND"
                " contact_id=$2 ORDER BY kept_at DESC LIMIT $3", user, contact, count)
            boundary = await self.scopes.of(UserId(user)).boundary(conn)
        return [_opened(boundary, contact, row) for row in reversed(rows)]

    async def get(self, user: UserID, contact: Address, stanza_id: str) -> KeptMessage | None:
        async with acquire(self.db) as conn:
            row = await conn.fetchrow(
                "SELECT stanza_id, sent_at, sealed FROM report_evidence WHERE user_id=$1 AND"
                " contact_id=$2 AND stanza_id=$3", user, contact, stanza_id)
            if row is None:
                return None
            boundary = await self.scopes.of(UserId(user)).boundary(conn)
        return _opened(boundary, contact, row)


def _opened(boundary, contact: Address, row) -> KeptMessage:
    return KeptMessage(row["stanza_id"], row["sent_at"],
                       boundary.open(_EVIDENCE, _name(contact, row["stanza_id"]),
                                     bytes(row["sealed"])))


class ReportRefused(Exception):
    """Nothing was reported; the message says why, for the person who asked."""


@define(frozen=True)
class ReportRequest:
    user: UserID
    contact: Address
    username: str
    reason: str = ""
    #: Disclose the last N kept messages from the contact (0: none).
    last: int = 0
    #: Disclose these messages too (stanza ids, e.g. the message the command replied to).
    picked: tuple[str, ...] = ()
    block: bool = False


@define(frozen=True)
class ReportOutcome:
    report_id: str
    message_count: int
    blocked: bool


def _disclosed(kept: KeptMessage) -> ReportedMessage:
    try:
        plaintext = unpad(kept.plaintext)
    except BadPadding:
        plaintext = kept.plaintext  # not padded content: disclosed exactly as decrypted
    return ReportedMessage(StanzaId(kept.stanza_id), kept.sent_at, plaintext)


class Reporting:
    """One routine for reporting, whoever asks (the `report` command)."""

    def __init__(self, *, evidence: ReportEvidence, portals: Portals,
                 requests: MessageRequests | None) -> None:
        self.evidence = evidence
        self.portals = portals
        self.requests = requests

    async def report(self, client: PartnerClient, request: ReportRequest) -> ReportOutcome:
        messages = await self._pick(request)
        report = Report(request.contact, request.reason,
                        tuple(_disclosed(m) for m in messages), request.block)
        try:
            receipt = await client.requests.report(report)
        except ReportInvalid as e:
            raise ReportRefused(f"Nothing was reported: {e}.") from None
        except ConnectionUnavailable:
            raise ReportRefused("The gateway cannot be reached right now, so nothing was "
                                "reported. Try again later.") from None
        except GatewayError as e:
            if e.code == ErrorCode.UNKNOWN_USER:
                raise ReportRefused(f"The gatekeeper no longer knows **{request.username}**; "
                                    "nothing was reported.") from None
            raise ReportRefused(f"The gateway did not take the report ({e}); nothing was "
                                "reported.") from None
        if request.block:
            # The gateway applied the block with the report; the rest is ours to do.
            await blocked_locally(client=client, portals=self.portals, requests=self.requests,
                                  user=request.user, address=request.contact,
                                  username=request.username, blocked=True)
        return ReportOutcome(receipt.report_id, len(messages), request.block)

    async def _pick(self, request: ReportRequest) -> list[KeptMessage]:
        user, contact, name = request.user, request.contact, request.username
        kept = await self.evidence.count(user, contact)
        if not kept and not await self._has_chat(user, contact):
            raise ReportRefused(f"You have no chat with **{name}**, so there is nothing to "
                                "report.")
        limit = self.evidence.keep
        if request.last < 0 or request.last > max(limit, 0):
            raise ReportRefused(
                f"`--last` must be a number from 1 to {limit}: the bridge keeps the last "
                f"{limit} messages from each contact." if limit > 0 else
                "This bridge keeps no messages for reports, so `--last` cannot be used; "
                "report without it.")
        if request.last > kept:
            raise ReportRefused(f"Only {kept} message(s) from **{name}** can be included; "
                                f"use `--last {kept}` or fewer." if kept else
                                f"The bridge has no messages from **{name}** to include; "
                                "report without `--last`.")
        picked = await self.evidence.latest(user, contact, request.last) if request.last else []
        for stanza_id in request.picked:
            if any(m.stanza_id == stanza_id for m in picked):
                continue
            message = await self.evidence.get(user, contact, stanza_id)
            if message is None:
                raise ReportRefused(f"The message you picked is no longer kept (the bridge "
                                    f"keeps the last {limit} from each contact); nothing was "
                                    "reported.")
            picked.append(message)
        return sorted(picked, key=lambda m: m.sent_at)

    async def _has_chat(self, user: UserID, contact: Address) -> bool:
        if await self.portals.get(user, contact) is not None:
            return True
        return self.requests is not None and await self.requests.get(user, contact) is not None

"""Typed requests over a :class:`GatewayConnection` (docs §7.3-7.4): what the Signal layer and
the portal code call instead of building ``iq`` stanzas."""

from __future__ import annotations

from collections.abc import Iterable

from .codec import Node
from .connection import GatewayConnection
from .errors import ErrorInfo
from .ids import Address
from .reports import Report, ReportReceipt, parse_report_result, report_request
from .requests import (
    LookupResult,
    OneTimePreKey,
    PreKeyBundle,
    SignedPreKey,
    blocklist_get,
    blocklist_set,
    bundle_request,
    deletion_request,
    parse_blocklist,
    parse_bundles,
    parse_lookup,
    parse_prekey_count,
    prekey_count_request,
    prekey_upload,
    reachability_ping,
    username_lookup,
)
from .stanzas import chatstate, new_stanza_id


class GatewayRequests:
    """Each method raises :class:`GatewayError` for an error answer and
    :class:`ConnectionUnavailable` when no channel could be opened in time."""

    def __init__(self, connection: GatewayConnection) -> None:
        self.connection = connection

    async def upload_prekeys(self, one_time_prekeys: Iterable[OneTimePreKey], *,
                             registration_id: int | None = None, identity: bytes | None = None,
                             signed_prekey: SignedPreKey | None = None) -> None:
        await self.connection.request(prekey_upload(
            new_stanza_id(), one_time_prekeys, registration_id=registration_id,
            identity=identity, signed_prekey=signed_prekey))

    async def prekey_count(self) -> int:
        return parse_prekey_count(await self.connection.request(
            prekey_count_request(new_stanza_id())))

    async def fetch_bundles(self, addresses: Iterable[Address]
                            ) -> dict[Address, PreKeyBundle | ErrorInfo]:
        return parse_bundles(await self.connection.request(
            bundle_request(new_stanza_id(), addresses)))

    async def blocklist(self) -> list[Address]:
        return parse_blocklist(await self.connection.request(blocklist_get(new_stanza_id())))

    async def set_blocked(self, address: Address, blocked: bool) -> None:
        await self.connection.request(blocklist_set(new_stanza_id(), address, blocked))

    async def lookup_username(self, username: str) -> LookupResult:
        return parse_lookup(await self.connection.request(
            username_lookup(new_stanza_id(), username)))

    async def ping_reachability(self, address: Address) -> None:
        await self.connection.request(reachability_ping(new_stanza_id(), address))

    async def report(self, report: Report) -> ReportReceipt:
        """Report a contact (docs §7.10); :class:`ReportInvalid` before sending for a report the
        gateway could not take."""
        return parse_report_result(await self.connection.request(
            report_request(new_stanza_id(), report)))

    async def delete_account(self) -> None:
        """Opt-out. The gateway then ends the channel with 401; the connection stops."""
        await self.connection.request(deletion_request(new_stanza_id()))

    async def send_chatstate(self, to: Address, composing: bool) -> None:
        node: Node = chatstate(to, "composing" if composing else "paused")
        await self.connection.send_untracked(node)

"""``<iq type="set" xmlns="report">`` (protocol §7.10): store the report, apply the block asked
for.

The disclosed messages are stored sealed (:mod:`..storage.reports`) and are never logged; the
log line names only who reported whom and how many messages came with it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorCode
from bridge.gateway.ids import SERVER_ADDRESS
from bridge.gateway.reports import ReportInvalid, parse_report_request, report_result

from ..clock import millis
from ..ids import is_internal_id
from .stanzas import StanzaRejected

if TYPE_CHECKING:
    from .router import Router

log = logging.getLogger("bridge.sandbox.chat.reports")

REPORT_COUNTER = "next_report_number"


async def handle_report(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    gw = router.gw
    try:
        report = parse_report_request(node)
    except ReportInvalid as e:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, str(e)) from None
    reported = report.reported
    if reported in (sender, SERVER_ADDRESS):
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "cannot report this address")
    if is_internal_id(reported):
        known = await gw.partners.get(reported) is not None
    else:
        known = await gw.directory.gatekeeper_user_at(reported) is not None
    if not known:
        raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
    report_id = f"R{await gw.state.next_counter(REPORT_COUNTER)}"
    await gw.reports.add(report_id, sender, report, millis(gw.clock))
    if report.block:
        # The reporter's own client asked for it: no blocklist notification back to it.
        await gw.set_block(sender, reported, True, notify_owner=False)
    log.info("Report %s from %s about %s: %d message(s), block %s", report_id, sender, reported,
             len(report.messages), "applied" if report.block else "not asked")
    return report_result(iq_id, report_id, report.block)

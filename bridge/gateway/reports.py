"""The ``report`` request of docs/gateway-protocol.md §7.10: builder, parser and checks (pure).

A report names a contact, an optional reason, whether the reporter also blocks them, and the
messages the reporter chose to disclose: each with its stanza id, the gateway's time of it and
the plaintext the reporter's own client decrypted. The request is built and checked here, before
anything is sent, so an oversized report is refused locally with a clear reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import BinaryStanzaCodec, Node
from .errors import ProtocolViolation
from .ids import Address, StanzaId
from .noise_channel import MAX_STANZA_SIZE
from .stanzas import iq

#: The namespace of report requests, and the element carrying the report.
REPORT = "report"
#: At most this many messages in one report (docs §7.10, §14).
MAX_REPORTED_MESSAGES = 50
#: Longest reason, in characters.
MAX_REASON_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    stanza_id: StanzaId
    #: The gateway's ``t`` of the message (Unix seconds).
    timestamp: int
    #: What the reporter discloses: the message's content plaintext, as they decrypted it.
    plaintext: bytes


@dataclass(frozen=True, slots=True)
class Report:
    reported: Address
    reason: str = ""
    messages: tuple[ReportedMessage, ...] = ()
    block: bool = False


class ReportInvalid(ValueError):
    """The report cannot be sent as it is; the message says why, for the reporter."""


def report_request(stanza_id: StanzaId, report: Report) -> Node:
    """The ``iq`` for ``report``; raises :class:`ReportInvalid` for what the gateway would
    refuse anyway (too many messages, a long reason, a stanza over the size limit)."""
    check_report(report)
    node = _request(stanza_id, report)
    size = len(BinaryStanzaCodec().encode(node))
    if size > MAX_STANZA_SIZE:
        raise ReportInvalid(f"the report would be {size} bytes, over the gateway's limit of "
                            f"{MAX_STANZA_SIZE}; include fewer messages")
    return node


def check_report(report: Report) -> None:
    if not report.reported:
        raise ReportInvalid("the report names nobody")
    if len(report.messages) > MAX_REPORTED_MESSAGES:
        raise ReportInvalid(f"at most {MAX_REPORTED_MESSAGES} messages fit in one report, "
                            f"not {len(report.messages)}")
    if len(report.reason) > MAX_REASON_LENGTH:
        raise ReportInvalid(f"the reason is {len(report.reason)} characters long; at most "
                            f"{MAX_REASON_LENGTH} are allowed")
    if not report.reason.isprintable():
        raise ReportInvalid("the reason must be one line of printable text")
    ids = [m.stanza_id for m in report.messages]
    if len(set(ids)) != len(ids):
        raise ReportInvalid("a message is included twice")


def _request(stanza_id: StanzaId, report: Report) -> Node:
    attrs: dict[str, str] = {"jid": report.reported}
    if report.reason:
        attrs["reason"] = report.reason
    if report.block:
        attrs["block"] = "true"
    children = [Node("list", {}, [
        Node("item", {"id": m.stanza_id, "t": str(m.timestamp)}, m.plaintext)
        for m in report.messages
    ])] if report.messages else None
    return iq(stanza_id, "set", REPORT, [Node(REPORT, attrs, children)])


@dataclass(frozen=True, slots=True)
class ReportReceipt:
    """The gateway's answer: its reference for the report and whether it applied a block."""

    report_id: str
    blocked: bool


def parse_report_result(result: Node) -> ReportReceipt:
    answer = result.child(REPORT)
    if answer is None or not answer.attrs.get("id"):
        raise ProtocolViolation("report result without a report id")
    return ReportReceipt(answer.attrs["id"], answer.attrs.get("blocked") == "true")


def parse_report_request(node: Node) -> Report:
    """The gateway side: the report in an ``iq``; :class:`ReportInvalid` for a malformed one."""
    element = node.child(REPORT)
    if element is None:
        raise ReportInvalid("expected <report jid=…/>")
    reported = element.attrs.get("jid", "")
    block = element.attrs.get("block", "false")
    if block not in ("true", "false"):
        raise ReportInvalid("block must be true or false")
    messages = []
    listing = element.child("list")
    for item in listing.children_by_tag("item") if listing is not None else ():
        stanza_id, t = item.attrs.get("id", ""), item.attrs.get("t", "")
        if not stanza_id or not t.isdigit() or not isinstance(item.content, bytes):
            raise ReportInvalid("each item needs id, t (seconds) and the plaintext as bytes")
        messages.append(ReportedMessage(StanzaId(stanza_id), int(t), item.content))
    report = Report(Address(reported), element.attrs.get("reason", ""), tuple(messages),
                    block == "true")
    check_report(report)
    return report


def report_result(iq_id: str, report_id: str, blocked: bool) -> Node:
    """The gateway side: the ``result`` answering a stored report."""
    attrs = {"id": report_id}
    if blocked:
        attrs["blocked"] = "true"
    return Node("iq", {"id": iq_id, "type": "result"}, [Node(REPORT, attrs)])

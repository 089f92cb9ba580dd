"""`report <username> [--last N] [--block] [reason…]`: report a contact to the gatekeeper.

In the contact's portal the username may be left out, and a command sent as a reply to one of
their messages includes that message.
"""

from __future__ import annotations

from attrs import define

from ..chats.reporting import ReportRefused, ReportRequest
from ..matrix.portals import Portal
from .chats import _client, _lookup
from .registry import Command, CommandContext, CommandError

USAGE = "Usage: `report <username> [--last N] [--block] [reason…]`"


@define
class ReportArgs:
    username: str | None
    last: int
    block: bool
    reason: str


def parse_report_args(args: list[str], *, username_required: bool,
                      contact_username: str | None = None) -> ReportArgs:
    """The words after `report`. Options may come anywhere; the first other word is the
    username (where one is needed, or where it names the portal's contact); the rest is the
    reason."""
    last, block, words = 0, False, []
    remaining = list(args)
    while remaining:
        word = remaining.pop(0)
        if word == "--block":
            block = True
        elif word == "--last" or word.startswith("--last="):
            value = word.split("=", 1)[1] if "=" in word else (remaining.pop(0) if remaining
                                                              else "")
            if not value.isdigit() or int(value) < 1:
                raise CommandError(f"`--last` needs a number of messages, 1 or more. {USAGE}")
            last = int(value)
        elif word.startswith("--"):
            raise CommandError(f"Unknown option `{word}`. {USAGE}")
        else:
            words.append(word)
    username = None
    if username_required:
        if not words:
            raise CommandError(USAGE)
        username = words.pop(0).lstrip("@")
    elif words and contact_username and words[0].lstrip("@").lower() == contact_username.lower():
        username = words.pop(0).lstrip("@")
    return ReportArgs(username, last, block, " ".join(words))


async def report(ctx: CommandContext) -> None:
    client = _client(ctx)
    services = ctx.services
    portal = await services.portals.by_room(ctx.room_id)
    if portal is not None and portal.user_id != ctx.sender:
        portal = None
    parsed = parse_report_args(ctx.args, username_required=portal is None,
                               contact_username=portal.ghost.username if portal else None)
    if portal is not None:
        contact, username = portal.contact_id, portal.ghost.username
    else:
        assert parsed.username is not None  # required outside the contact's portal
        _, found = await _lookup(ctx, parsed.username)
        contact, username = found.address, found.username
    picked = await _replied_message(ctx, portal)
    try:
        outcome = await services.reporting.report(client, ReportRequest(
            user=ctx.sender, contact=contact, username=username, reason=parsed.reason,
            last=parsed.last, picked=picked, block=parsed.block))
    except ReportRefused as e:
        raise CommandError(str(e)) from None
    disclosed = (f"with {outcome.message_count} of their messages" if outcome.message_count
                 else "without any of their messages")
    blocked = f" **{username}** is blocked." if outcome.blocked else ""
    await ctx.reply(f"Reported **{username}** to the gatekeeper {disclosed} (reference "
                    f"`{outcome.report_id}`).{blocked}")


async def _replied_message(ctx: CommandContext, portal: Portal | None) -> tuple[str, ...]:
    """The contact's message the command replies to, in their portal."""
    if ctx.reply_to is None or portal is None:
        return ()
    mapped = await ctx.services.portals.messages.by_event(ctx.reply_to)
    if mapped is None or mapped.room_id != portal.room_id:
        raise CommandError("The message you replied to is not one the bridge knows; nothing "
                           "was reported.")
    if mapped.from_matrix:
        raise CommandError("You replied to your own message: only messages from "
                           f"**{portal.ghost.username}** can be reported.")
    return (mapped.stanza_id,)


COMMANDS = (
    Command("report", report, "report someone to the gatekeeper, with messages you pick, and "
            "optionally block them", usage="<username> [--last N] [--block] [reason…]"),
)

"""Commands for bridge admins: users, force-opt-out, reconnect, stats, broadcast."""

from __future__ import annotations

import time

from mautrix.types import UserID

from ..matrix.permissions import Level
from ..partner.service import OptInError
from .registry import Command, CommandContext, CommandError


def _user_arg(ctx: CommandContext) -> UserID:
    if len(ctx.args) != 1 or not ctx.args[0].startswith("@") or ":" not in ctx.args[0]:
        raise CommandError("Give one Matrix user ID, e.g. `@alice:example.org`.")
    return UserID(ctx.args[0])


async def users(ctx: CommandContext) -> None:
    accounts = await ctx.services.partners.accounts.all()
    if not accounts:
        await ctx.reply("Nobody has used third-party chats yet.")
        return
    lines = ["| user | state | user-visible id | connection | last problem |",
             "|---|---|---|---|---|"]
    for account in accounts:
        client = ctx.services.partners.client(account.user_id)
        connection = client.connection.state.value if client else "—"
        lines.append(f"| {account.user_id} | {account.state.value} | "
                     f"{account.user_visible_id or '—'} | {connection} | "
                     f"{account.last_error or '—'} |")
    await ctx.reply("\n".join(lines))


async def force_opt_out(ctx: CommandContext) -> None:
    mxid = _user_arg(ctx)
    try:
        await ctx.services.partners.opt_out(mxid)
    except OptInError as e:
        raise CommandError(f"{mxid}: {e}") from None
    await ctx.reply(f"{mxid} is opted out; their keys are deleted.")


async def reconnect(ctx: CommandContext) -> None:
    mxid = _user_arg(ctx)
    client = ctx.services.partners.client(mxid)
    if client is None:
        raise CommandError(f"{mxid} is not opted in.")
    await client.close()
    client.wake()
    await ctx.reply(f"Reconnecting {mxid} to the gateway.")


async def stats(ctx: CommandContext) -> None:
    db = ctx.services.db
    accounts = await ctx.services.partners.accounts.all()
    by_state: dict[str, int] = {}
    for account in accounts:
        by_state[account.state.value] = by_state.get(account.state.value, 0) + 1
    midnight = int(time.time() // 86400 * 86400 * 1000)
    today = await db.fetch(
        "SELECT from_matrix, COUNT(*) AS n FROM portal_message WHERE created_at >= $1 "
        "GROUP BY from_matrix", midnight)
    sent = sum(r["n"] for r in today if r["from_matrix"])
    received = sum(r["n"] for r in today if not r["from_matrix"])
    portals = await db.fetchval("SELECT COUNT(*) FROM portal")
    matrix_waiting = await db.fetchval("SELECT COUNT(*) FROM matrix_inbox")
    to_send = await db.fetchval("SELECT COUNT(*) FROM signal_outbound WHERE state != $1", "sent")
    to_show = await db.fetchval("SELECT COUNT(*) FROM signal_inbound WHERE state = $1",
                                "decrypted")
    lines = [
        "**Bridge statistics**", "",
        "- users: " + (", ".join(f"{n} {s}" for s, n in sorted(by_state.items())) or "none"),
        f"- portals: {portals}",
        f"- messages today (UTC): {sent} to the gateway, {received} from it",
        f"- Matrix events waiting: {matrix_waiting}",
        f"- gateway messages waiting to be sent: {to_send}",
        f"- gateway messages waiting to be shown: {to_show}",
    ]
    for metric in ctx.services.metrics.messages.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                labels = sample.labels
                lines.append(f"- since start, {labels['direction']} {labels['type']} "
                             f"{labels['result']}: {int(sample.value)}")
    await ctx.reply("\n".join(lines))


async def broadcast(ctx: CommandContext) -> None:
    if not ctx.args:
        raise CommandError("Usage: `broadcast <message>`")
    text = " ".join(ctx.args)
    sent = 0
    for account in await ctx.services.partners.accounts.active():
        user = await ctx.services.users.get(account.user_id)
        if user is not None and user.management_room:
            await ctx.services.notices.notify(account.user_id,
                                              f"📢 From the bridge admins: {text}")
            sent += 1
    await ctx.reply(f"Sent to {sent} opted-in user(s).")


COMMANDS = (
    Command("users", users, "list users and their states", level=Level.ADMIN),
    Command("force-opt-out", force_opt_out, "opt a user out and delete their keys",
            usage="<user ID>", level=Level.ADMIN),
    Command("reconnect", reconnect, "reconnect a user to the gateway", usage="<user ID>",
            level=Level.ADMIN),
    Command("stats", stats, "bridge statistics", level=Level.ADMIN),
    Command("broadcast", broadcast, "send a notice to every opted-in user",
            usage="<message>", level=Level.ADMIN),
)

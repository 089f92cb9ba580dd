"""Commands about chats with gatekeeper users: start-chat, contacts."""

from __future__ import annotations

from ...gateway.connection import ConnectionUnavailable
from ...gateway.errors import ErrorCode, GatewayError
from .registry import Command, CommandContext, CommandError


def _client(ctx: CommandContext):
    client = ctx.services.partners.client(ctx.sender)
    if client is None:
        raise CommandError("Third-party chats are off for you. Send `opt-in` first.")
    return client


async def start_chat(ctx: CommandContext) -> None:
    if len(ctx.args) != 1:
        raise CommandError("Usage: `start-chat <username>`")
    username = ctx.args[0].lstrip("@")
    client = _client(ctx)
    try:
        found = await client.requests.lookup_username(username)
    except GatewayError as e:
        if e.code == ErrorCode.UNKNOWN_USER:
            raise CommandError(f"There is nobody called **{username}** on the other service.")
        raise CommandError(f"The gateway could not look up {username} ({e}).") from None
    except ConnectionUnavailable:
        raise CommandError("The gateway cannot be reached right now; try again later.") from None
    if not found.opted_in:
        raise CommandError(f"**{username}** has not turned on third-party chats, so they "
                           "cannot receive your messages yet.")
    portal = await ctx.services.portals.get_or_create(ctx.sender, found.address, found.username)
    await ctx.reply(f"Your chat with **{found.username}** is in "
                    f"[this room](https://matrix.to/#/{portal.room_id}); you have been invited.")


async def contacts(ctx: CommandContext) -> None:
    portals = await ctx.services.portals.for_user(ctx.sender)
    if not portals:
        await ctx.reply("You have no third-party chats yet. Start one with "
                        "`start-chat <username>`.")
        return
    lines = ["Your third-party chats:", ""]
    for portal in portals:
        notes = []
        if portal.blocked:
            notes.append("blocked")
        if portal.read_only:
            notes.append("read-only")
        suffix = f" ({', '.join(notes)})" if notes else ""
        lines.append(f"- **{portal.ghost.username}**: "
                     f"[room](https://matrix.to/#/{portal.room_id}){suffix}")
    await ctx.reply("\n".join(lines))


COMMANDS = (
    Command("start-chat", start_chat, "start a chat with a user of the other service",
            usage="<username>"),
    Command("contacts", contacts, "list your third-party chats"),
)

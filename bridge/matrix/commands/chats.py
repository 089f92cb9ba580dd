"""Commands about chats with gatekeeper users: start-chat, contacts."""

from __future__ import annotations

from ...gateway.connection import ConnectionUnavailable
from ...gateway.errors import ErrorCode, GatewayError
from ...chats.signals import blocked_notice
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


async def _contact(ctx: CommandContext):
    """The contact a command is about: a username argument, or the portal it was sent in."""
    client = _client(ctx)
    if ctx.args:
        username = ctx.args[0].lstrip("@")
        try:
            found = await client.requests.lookup_username(username)
        except GatewayError as e:
            if e.code == ErrorCode.UNKNOWN_USER:
                raise CommandError(f"There is nobody called **{username}** on the other "
                                   "service.") from None
            raise CommandError(f"The gateway could not look up {username} ({e}).") from None
        except ConnectionUnavailable:
            raise CommandError("The gateway cannot be reached right now; try again later.") \
                from None
        return client, found.address, found.username
    portal = await ctx.services.portals.by_room(ctx.room_id)
    if portal is None or portal.user_mxid != ctx.sender:
        raise CommandError("Name the person (`block <username>`), or send this in your chat "
                           "with them.")
    return client, portal.contact_id, portal.ghost.username


async def _set_blocked(ctx: CommandContext, blocked: bool) -> None:
    client, address, username = await _contact(ctx)
    try:
        await client.requests.set_blocked(address, blocked)
    except (GatewayError, ConnectionUnavailable) as e:
        raise CommandError(f"The gateway did not confirm it ({e}); try again later.") from None
    portal = await ctx.services.portals.get(ctx.sender, address)
    if portal is not None:
        await portal.set_blocked(blocked)
        await portal.send_notice(blocked_notice(username, blocked))
    if blocked:
        await ctx.reply(f"**{username}** is blocked: neither of you can message the other.")
    else:
        await ctx.reply(f"**{username}** is unblocked.")


async def block(ctx: CommandContext) -> None:
    await _set_blocked(ctx, True)


async def unblock(ctx: CommandContext) -> None:
    await _set_blocked(ctx, False)


async def blocklist(ctx: CommandContext) -> None:
    client = _client(ctx)
    try:
        addresses = await client.requests.blocklist()
    except (GatewayError, ConnectionUnavailable) as e:
        raise CommandError(f"The gateway could not be asked ({e}); try again later.") from None
    if not addresses:
        await ctx.reply("You have blocked nobody.")
        return
    names = []
    for address in addresses:
        puppet = await ctx.services.puppets.get(address)
        names.append(f"- **{puppet.username}**" if puppet else f"- `{address}`")
    await ctx.reply("You have blocked:\n\n" + "\n".join(names))


BLOCKING = (
    Command("block", block, "block someone (in their chat, or by username)",
            usage="[username]"),
    Command("unblock", unblock, "unblock someone", usage="[username]"),
    Command("blocklist", blocklist, "list the people you blocked"),
)

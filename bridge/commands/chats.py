"""Commands about chats with gatekeeper users: start-chat, contacts, resolve, invite, blocking."""

from __future__ import annotations

import time

from ..chats.blocking import set_blocked
from ..chats.requests import RequestState
from ..gateway.connection import ConnectionUnavailable
from ..gateway.errors import ErrorCode, GatewayError
from ..gateway.ids import Address
from ..gateway.requests import LookupResult
from ..partner.client import PartnerClient
from .registry import Command, CommandContext, CommandError


def _client(ctx: CommandContext) -> PartnerClient:
    client = ctx.services.partners.client(ctx.sender)
    if client is None:
        raise CommandError("Third-party chats are off for you. Send `opt-in` first.")
    return client


async def start_chat(ctx: CommandContext) -> None:
    if len(ctx.args) != 1:
        raise CommandError("Usage: `start-chat <username>`")
    username = ctx.args[0].lstrip("@")
    _, found = await _lookup(ctx, username)
    if not found.opted_in:
        raise CommandError(f"**{username}** has not turned on third-party chats, so they "
                           f"cannot receive your messages yet. Send `invite {username}` to ask "
                           "them to turn it on.")
    portal = await ctx.services.portals.get_or_create(ctx.sender, found.address,
                                                   found.username)
    await _accept_request(ctx, found.address)
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




async def _contact(ctx: CommandContext) -> tuple[PartnerClient, Address, str]:
    """The contact a command is about: a username argument, or the portal it was sent in."""
    client = _client(ctx)
    if ctx.args:
        _, found = await _lookup(ctx, ctx.args[0].lstrip("@"))
        return client, found.address, found.username
    portal = await ctx.services.portals.by_room(ctx.room_id)
    if portal is None or portal.user_id != ctx.sender:
        raise CommandError("Name the person (`block <username>`), or send this in your chat "
                           "with them.")
    return client, portal.contact_id, portal.ghost.username


async def _set_blocked(ctx: CommandContext, blocked: bool) -> None:
    client, address, username = await _contact(ctx)
    try:
        await set_blocked(client=client, portals=ctx.services.portals,
                          requests=ctx.services.requests, user=ctx.sender, address=address,
                          username=username, blocked=blocked)
    except (GatewayError, ConnectionUnavailable) as e:
        raise CommandError(f"The gateway did not confirm it ({e}); try again later.") from None
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


async def _accept_request(ctx: CommandContext, contact_id: str) -> bool:
    """Settle a pending request from ``contact_id`` and show what it held, in order."""
    requests = ctx.services.requests
    if requests is None:
        return False
    request = await requests.get(ctx.sender, contact_id)
    if request is None or request.state != RequestState.PENDING:
        return False
    await requests.settle(ctx.sender, contact_id, RequestState.ACCEPTED)
    await _client(ctx).resume()
    return True


async def accept(ctx: CommandContext) -> None:
    _client(ctx)  # a request waits on the user's own connection: none without opting in
    if len(ctx.args) != 1:
        raise CommandError("Usage: `accept <username>`")
    username = ctx.args[0].lstrip("@")
    requests = ctx.services.requests
    request = await requests.by_username(ctx.sender, username) if requests else None
    if request is None or request.state != RequestState.PENDING:
        raise CommandError(f"There is no message request from **{username}**.")
    await _accept_request(ctx, request.contact_id)
    await ctx.reply(f"Accepted: your chat with **{username}** opens now.")


async def trust(ctx: CommandContext) -> None:
    """Confirm a contact's changed security key: what was held flows again, in order."""
    if len(ctx.args) > 1:
        raise CommandError("Usage: `trust <username>`, or `trust` in your chat with them")
    portals = ctx.services.portals
    here = await portals.by_room(ctx.room_id)
    if not ctx.args and here is not None and here.user_id != ctx.sender:
        raise CommandError("Only the person this chat belongs to can confirm the other "
                           "side's security key.")
    client = _client(ctx)
    if ctx.args:
        username = ctx.args[0].lstrip("@")
        portal = next((p for p in await portals.for_user(ctx.sender)
                       if p.ghost.username == username), None)
        if portal is None:
            raise CommandError(f"You have no chat with **{username}**.")
    else:
        portal = here
        if portal is None:
            raise CommandError("Name the person (`trust <username>`), or send this in your "
                               "chat with them.")
        username = portal.ghost.username
    if not await client.confirm_identity(portal.contact_id):
        raise CommandError(f"There is nothing to confirm: no changed security key of "
                           f"**{username}** is waiting for you.")
    await ctx.reply(f"You confirmed **{username}**'s new security key. What was held is on its "
                    "way, in order.")
    if portal.room_id != ctx.room_id:
        await portal.send_notice(f"You confirmed {username}'s new security key; messages flow "
                                 "again.")


async def _lookup(ctx: CommandContext, username: str) -> tuple[PartnerClient, LookupResult]:
    client = _client(ctx)
    try:
        return client, await client.requests.lookup_username(username)
    except GatewayError as e:
        if e.code == ErrorCode.UNKNOWN_USER:
            raise CommandError(f"There is nobody called **{username}** on the other "
                               "service.") from None
        raise CommandError(f"The gateway could not look up {username} ({e}).") from None
    except ConnectionUnavailable:
        raise CommandError("The gateway cannot be reached right now; try again later.") from None


async def resolve(ctx: CommandContext) -> None:
    if len(ctx.args) != 1:
        raise CommandError("Usage: `resolve <username>`")
    _, found = await _lookup(ctx, ctx.args[0].lstrip("@"))
    state = "has turned on" if found.opted_in else "has not turned on"
    await ctx.reply(f"**{found.username}** (`{found.address}`) {state} third-party chats.")


async def invite(ctx: CommandContext) -> None:
    """Ask a gatekeeper user to turn on third-party chats (a reachability ping)."""
    if len(ctx.args) != 1:
        raise CommandError("Usage: `invite <username>`")
    client, found = await _lookup(ctx, ctx.args[0].lstrip("@"))
    if found.opted_in:
        raise CommandError(f"**{found.username}** already has third-party chats on: "
                           f"`start-chat {found.username}`.")
    db = ctx.services.db
    interval_ms = int(ctx.services.config["bridge.reachability_ping_interval"] * 3_600_000)
    now = int(time.time() * 1000)
    last = await db.fetchval("SELECT sent_at FROM reachability_ping WHERE user_id=$1 AND "
                             "address=$2", ctx.sender, found.address)
    if last is not None and now - last < interval_ms:
        hours = (interval_ms - (now - last)) / 3_600_000
        raise CommandError(f"You asked **{found.username}** recently; you can ask again in "
                           f"{hours:.0f} hour(s).")
    try:
        await client.requests.ping_reachability(found.address)
    except GatewayError as e:
        raise CommandError(f"The gateway did not pass it on ({e}).") from None
    await db.execute(
        "INSERT INTO reachability_ping (user_id, address, sent_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id, address) DO UPDATE SET sent_at=excluded.sent_at",
        ctx.sender, found.address, now)
    await ctx.reply(f"**{found.username}** was asked to turn on third-party chats.")

COMMANDS = (
    Command("start-chat", start_chat, "start a chat with a user of the other service",
            usage="<username>"),
    Command("contacts", contacts, "list your third-party chats"),
    Command("resolve", resolve, "look a username up on the other service", usage="<username>"),
    Command("invite", invite, "ask someone to turn on third-party chats", usage="<username>"),
    Command("accept", accept, "accept a message request", usage="<username>"),
    Command("trust", trust, "confirm a contact's changed security key (in their chat, or by "
            "username)", usage="[username]"),
)

BLOCKING = (
    Command("block", block, "block someone (in their chat, or by username)",
            usage="[username]"),
    Command("unblock", unblock, "unblock someone", usage="[username]"),
    Command("blocklist", blocklist, "list the people you blocked"),
)

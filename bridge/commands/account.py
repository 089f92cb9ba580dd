"""Commands about the user's own third-party chats account: opt-in, opt-out, status."""

from __future__ import annotations

from ..gateway.connection import ConnectionUnavailable
from ..gateway.errors import GatewayError
from ..partner.accounts import AccountState
from ..partner.service import OptInError, PartnerService
from .registry import Command, CommandContext, CommandError

DISCLOSURE = """\
**Before you turn on third-party chats**

- Your messages in third-party chats leave this Matrix server for another service (the
  gatekeeper, e.g. WhatsApp), whose users can then reach you. That service may handle data
  differently from this server.
- Message contents stay end-to-end encrypted between this bridge and the other person's app. The
  bridge decrypts them only inside your own protected space on this server, to put them into your
  encrypted Matrix rooms.
- The gatekeeper learns: your user-visible identifier **{user_visible_id}**, when you send and
  receive messages, and the IP address of this bridge.
- You can turn it off at any time with `opt-out`: the gatekeeper is asked to delete your account
  and the bridge deletes your keys.

To continue, send `opt-in confirm`."""


def _service(ctx: CommandContext) -> PartnerService:
    return ctx.services.partners


async def opt_in(ctx: CommandContext) -> None:
    service = _service(ctx)
    account = await service.accounts.get(ctx.sender)
    if account is not None and account.is_active:
        await ctx.reply(f"You are already opted in as **{account.user_visible_id}**.")
        return
    if not ctx.args or ctx.args[0].lower() != "confirm":
        await service.accounts.record_disclosure(ctx.sender)
        await ctx.reply(DISCLOSURE.format(user_visible_id=service.user_visible_id_for(ctx.sender)))
        return
    if account is None or account.disclosure_shown_at is None:
        raise CommandError("Send `opt-in` first and read what it means.")
    username = ctx.args[1] if len(ctx.args) > 1 else None
    await ctx.reply("Creating your keys and enlisting with the gateway…")
    try:
        account = await service.opt_in(ctx.sender, username)
    except OptInError as e:
        raise CommandError(str(e)) from None
    await ctx.reply(f"Done: third-party chats are on. Gatekeeper users can reach you as "
                    f"**{account.user_visible_id}**. Start a chat with `start-chat <username>`.")


async def opt_out(ctx: CommandContext) -> None:
    service = _service(ctx)
    account = await service.accounts.get(ctx.sender)
    if account is None or not account.is_active:
        raise CommandError("You are not opted in to third-party chats.")
    if not ctx.args or ctx.args[0].lower() != "confirm":
        await ctx.reply("Opting out asks the gatekeeper to delete your account, deletes your keys "
                        "and sessions here, and makes your third-party chats read-only. "
                        "Send `opt-out confirm` to go ahead.")
        return
    try:
        await service.opt_out(ctx.sender)
    except OptInError as e:
        raise CommandError(str(e)) from None
    await ctx.reply("Third-party chats are off. Your keys are deleted and gatekeeper users can "
                    "no longer reach you.")


_STATE_WORDS = {
    AccountState.DISCLOSED: "not opted in (the disclosure was shown; send `opt-in confirm`)",
    AccountState.ACTIVE: "opted in",
    AccountState.UNENLISTED: "removed by the gateway (send `opt-in` to join again)",
    AccountState.OPTED_OUT: "opted out",
}


async def status(ctx: CommandContext) -> None:
    service = _service(ctx)
    account = await service.accounts.get(ctx.sender)
    if account is None:
        await ctx.reply("Third-party chats: not opted in. Send `opt-in` to start.\n"
                        + await _encryption_line(ctx))
        return
    lines = [f"Third-party chats: {_STATE_WORDS[account.state]}"]
    if account.is_active:
        lines.append(f"- You appear to gatekeeper users as **{account.user_visible_id}**")
        lines.append(f"- Internal id: `{account.internal_id}`")
        client = service.client(ctx.sender)
        if client is not None:
            lines.append(f"- Gateway connection: {client.connection.state.value}")
            try:
                prekeys = await client.requests.prekey_count()
            except (TimeoutError, GatewayError, ConnectionUnavailable):
                prekeys = None  # the status still shows when the gateway does not answer
            if prekeys is not None:
                lines.append(f"- One-time prekeys left at the gateway: {prekeys} "
                             "(refilled automatically below 5)")
    if account.last_error:
        lines.append(f"- Last problem: {account.last_error}")
    inbox = await ctx.services.spaces.inbox_of(ctx.sender)
    lines.append("- Inbox: " + ("a separate space for third-party chats" if inbox == "separate"
                                else "with your other chats"))
    lines.append(await _encryption_line(ctx))
    await ctx.reply("\n".join(lines))


async def _encryption_line(ctx: CommandContext) -> str:
    encryption = ctx.services.encryption
    if encryption is None:
        return "- Bridge encryption: off (encrypted rooms are not bridged)"
    state = await encryption.status()
    if not (state.master_key and state.device_signed):
        return (f"- Bridge encryption: device `{state.device_id}`, **not cross-signed**: "
                "Element will not share keys with it; see the bridge's log")
    return (f"- Bridge encryption: device `{state.device_id}`, cross-signed (master key "
            f"`{state.master_key[:8]}…`); {state.ghost_devices} contact device(s)")


async def inbox(ctx: CommandContext) -> None:
    if len(ctx.args) != 1 or ctx.args[0] not in ("separate", "main"):
        raise CommandError("Usage: `inbox separate` (a space just for third-party chats) or "
                           "`inbox main` (with your other chats)")
    portal_rooms = [p.room_id for p in await ctx.services.portals.for_user(ctx.sender)]
    moved = await ctx.services.spaces.choose(ctx.sender, ctx.args[0], portal_rooms)
    where = ("in the space “Third-party chats”" if ctx.args[0] == "separate"
             else "with your other chats")
    await ctx.reply(f"Third-party chats are now {where} ({moved} chat(s) moved).")


COMMANDS = (
    Command("opt-in", opt_in, "turn on third-party chats (shows what it means first)",
            usage="[confirm]"),
    Command("opt-out", opt_out, "turn off third-party chats and delete your keys",
            usage="[confirm]"),
    Command("status", status, "show your third-party chats status"),
    Command("inbox", inbox, "keep third-party chats in their own space, or with the rest",
            usage="separate|main"),
)

"""Commands about the bridge itself: help, ping, version."""

from __future__ import annotations

from .. import __version__
from .registry import Command, CommandContext


async def show_help(ctx: CommandContext) -> None:
    lines = ["Commands you can use here"
             + ("" if ctx.is_management_room else f" (prefix them with `{ctx.registry.prefix}`)")
             + ":", ""]
    for command in ctx.registry.available_to(ctx.level):
        usage = f" {command.usage}" if command.usage else ""
        lines.append(f"- `{command.name}{usage}` — {command.summary}")
    await ctx.reply("\n".join(lines))


async def ping(ctx: CommandContext) -> None:
    await ctx.reply("Pong: the bridge is running.")


async def version(ctx: CommandContext) -> None:
    await ctx.reply(f"interop-bridge {__version__}")


COMMANDS = (
    Command("help", show_help, "show the commands you can use", aliases=("?",)),
    Command("ping", ping, "check that the bridge answers"),
    Command("version", version, "show the bridge's version"),
)

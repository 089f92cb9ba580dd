"""Bot commands, answered in the management room (or anywhere with the command prefix).

The registry is built here from an explicit list of command modules; nothing registers itself by
being imported. The package sits above the chat flows and the Matrix side: the router reaches it
only through :class:`bridge.matrix.command_input.CommandRunner`.
"""

from __future__ import annotations

from . import account, admin, chats, meta, reporting
from .registry import Command, CommandContext, CommandError, CommandRegistry
from .services import CommandServices

__all__ = ["Command", "CommandContext", "CommandError", "CommandRegistry", "CommandServices",
           "build_registry"]


def build_registry(prefix: str, services: CommandServices) -> CommandRegistry:
    return CommandRegistry([*meta.COMMANDS, *account.COMMANDS, *chats.COMMANDS,
                            *chats.BLOCKING, *reporting.COMMANDS, *admin.COMMANDS],
                           prefix=prefix, services=services)

"""Bot commands, answered in the management room (or anywhere with the command prefix).

The registry is built here from an explicit list of command modules; nothing registers itself by
being imported.
"""

from __future__ import annotations

from . import account, admin, chats, meta, reporting
from .registry import Command, CommandContext, CommandError, CommandRegistry

__all__ = ["Command", "CommandContext", "CommandError", "CommandRegistry", "build_registry"]


def build_registry(prefix: str) -> CommandRegistry:
    return CommandRegistry([*meta.COMMANDS, *account.COMMANDS, *chats.COMMANDS,
                            *chats.BLOCKING, *reporting.COMMANDS, *admin.COMMANDS],
                           prefix=prefix)

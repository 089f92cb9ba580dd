"""Bot commands: what a command is, how one is found and run, and who may run it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mautrix.types import EventID, RoomID, UserID

from ..permissions import Level


@dataclass
class CommandContext:
    """One invocation: who asked, where, with which arguments, and how to answer."""

    sender: UserID
    room_id: RoomID
    args: list[str]
    level: Level
    is_management_room: bool
    reply: Callable[[str], Awaitable[None]]
    # The services a command may use (the bridge's components), handed over explicitly.
    services: Any = None
    registry: CommandRegistry | None = None
    #: The event the command message replies to, if it is a reply.
    reply_to: EventID | None = None


Handler = Callable[[CommandContext], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    summary: str
    usage: str = ""
    level: Level = Level.USER
    aliases: tuple[str, ...] = field(default_factory=tuple)


class CommandRegistry:
    """An explicit list of commands, built by :func:`bridge.matrix.commands.build_registry`."""

    def __init__(self, commands: Iterable[Command], prefix: str,
                 log: logging.Logger | None = None) -> None:
        self.prefix = prefix
        self.log = log or logging.getLogger("bridge.matrix.commands")
        self._by_name: dict[str, Command] = {}
        for command in commands:
            for name in (command.name, *command.aliases):
                if name in self._by_name:
                    raise ValueError(f"two commands are called {name!r}")
                self._by_name[name] = command

    @property
    def commands(self) -> list[Command]:
        return sorted({c.name: c for c in self._by_name.values()}.values(), key=lambda c: c.name)

    def available_to(self, level: Level) -> list[Command]:
        return [c for c in self.commands if level >= c.level]

    def parse(self, body: str, *, is_management_room: bool) -> list[str] | None:
        """The words of a command, or None when the message is not addressed to the bot."""
        text = body.strip()
        if text.startswith(self.prefix + " ") or text == self.prefix:
            text = text[len(self.prefix):].strip()
        elif not is_management_room:
            return None
        words = text.split()
        return words or None

    async def run(self, words: list[str], make_context: Callable[[list[str]], CommandContext]
                  ) -> None:
        name, args = words[0].lower(), words[1:]
        context = make_context(args)
        context.registry = self
        if context.level < Level.USER:
            # Someone the config does not let in, writing in a room the bot shares with a user.
            await context.reply("You are not allowed to use this bridge.")
            return
        command = self._by_name.get(name)
        if command is None:
            await context.reply(f"Unknown command `{name}`. Send `help` for the list.")
            return
        if context.level < command.level:
            await context.reply(f"`{command.name}` is for bridge admins only.")
            return
        try:
            await command.handler(context)
        except CommandError as e:
            await context.reply(str(e))
        except Exception:
            self.log.exception("Command %s failed", command.name)
            await context.reply(f"`{command.name}` failed because of an internal error; "
                                "the bridge's log has the details.")


class CommandError(Exception):
    """A refusal or a bad argument, shown to the person as it is."""

"""Bot commands: what a command is, how one is found and run, and who may run it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import attrs
from mautrix.types import EventID, RoomID, UserID

from ..matrix.command_input import Invocation
from ..matrix.permissions import Level
from .services import CommandServices


@attrs.frozen(kw_only=True)
class CommandContext:
    """One invocation: who asked, where, with which arguments, and how to answer."""

    sender: UserID
    room_id: RoomID
    args: list[str]
    level: Level
    is_management_room: bool
    reply: Callable[[str], Awaitable[None]]
    #: the event the command message replies to, if it is a reply
    reply_to: EventID | None
    #: the bridge's components a command may use, handed over explicitly
    services: CommandServices
    #: the registry that runs the command (`help` lists its commands)
    registry: CommandRegistry


Handler = Callable[[CommandContext], Awaitable[None]]


@attrs.frozen
class Command:
    name: str
    handler: Handler
    summary: str
    usage: str = ""
    level: Level = Level.USER
    aliases: tuple[str, ...] = ()


class CommandRegistry:
    """An explicit list of commands, built by :func:`bridge.commands.build_registry`; the
    router's :class:`~bridge.matrix.command_input.CommandRunner`."""

    def __init__(self, commands: Iterable[Command], *, prefix: str, services: CommandServices,
                 log: logging.Logger | None = None) -> None:
        self.prefix = prefix
        self.services = services
        self.log = log or logging.getLogger("bridge.commands")
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

    async def run(self, words: list[str], invocation: Invocation) -> None:
        name, args = words[0].lower(), words[1:]
        context = CommandContext(
            sender=invocation.sender, room_id=invocation.room_id, args=args,
            level=invocation.level, is_management_room=invocation.is_management_room,
            reply=invocation.reply, reply_to=invocation.reply_to, services=self.services,
            registry=self)
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

"""The command registry without a homeserver: what is addressed to the bot, who may run what,
and what the person is told when a command refuses or fails.

The registry and the commands are real; the router's side is an :class:`Invocation` whose
``reply`` records the answers. The registry only hands its services over to the commands, so
these tests give it a placeholder and check that it arrives as it is.
"""

from __future__ import annotations

import logging
from typing import cast

import pytest
from mautrix.types import EventID, RoomID, UserID

from bridge.commands import (
    Command,
    CommandContext,
    CommandError,
    CommandRegistry,
    CommandServices,
    build_registry,
)
from bridge.matrix.command_input import CommandRunner, Invocation
from bridge.matrix.permissions import Level

PREFIX = "!interop"
ALICE = UserID("@alice:example.org")
ROOM = RoomID("!room:example.org")
#: never used by the test commands, only passed through
SERVICES = cast(CommandServices, object())


class Answers:
    """The notices a command run sent back, in order."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def reply(self, text: str) -> None:
        self.texts.append(text)


def invocation(answers: Answers, *, level: Level = Level.USER, management: bool = True,
               reply_to: EventID | None = None) -> Invocation:
    return Invocation(sender=ALICE, room_id=ROOM, level=level, is_management_room=management,
                      reply=answers.reply, reply_to=reply_to)


class Calls:
    def __init__(self) -> None:
        self.contexts: list[CommandContext] = []

    async def record(self, ctx: CommandContext) -> None:
        self.contexts.append(ctx)
        await ctx.reply("done")


async def refuse(ctx: CommandContext) -> None:
    raise CommandError("Usage: `refuse <nothing>`")


async def crash(ctx: CommandContext) -> None:
    raise RuntimeError("a bug")


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def registry(calls: Calls) -> CommandRegistry:
    return CommandRegistry([
        Command("echo", calls.record, "records its context", aliases=("e",)),
        Command("purge", calls.record, "an admin's command", level=Level.ADMIN),
        Command("refuse", refuse, "always refuses"),
        Command("crash", crash, "always fails"),
    ], prefix=PREFIX, services=SERVICES)


# --- what is addressed to the bot ------------------------------------------------------------


@pytest.mark.parametrize(("body", "management", "words"), [
    ("echo a b", True, ["echo", "a", "b"]),
    ("  echo   a ", True, ["echo", "a"]),
    ("echo a b", False, None),  # elsewhere only with the prefix
    ("!interop echo a", False, ["echo", "a"]),
    ("!interop echo a", True, ["echo", "a"]),
    ("!interop", False, None),  # the prefix alone names no command
    ("!interopecho", False, None),  # the prefix is a word of its own
    ("", True, None),
    ("   ", True, None),
])
def test_parse(registry: CommandRegistry, body: str, management: bool,
               words: list[str] | None) -> None:
    assert registry.parse(body, is_management_room=management) == words


def test_the_registry_is_what_the_router_runs(registry: CommandRegistry) -> None:
    runner: CommandRunner = registry
    assert runner.parse("!interop echo", is_management_room=False) == ["echo"]


# --- running -----------------------------------------------------------------------------------


async def test_a_command_gets_the_invocation_its_words_and_the_services(
        registry: CommandRegistry, calls: Calls) -> None:
    answers = Answers()
    await registry.run(["ECHO", "One", "two"], invocation(
        answers, management=False, reply_to=EventID("$replied")))
    assert answers.texts == ["done"]
    [ctx] = calls.contexts
    assert (ctx.sender, ctx.room_id, ctx.level, ctx.is_management_room, ctx.reply_to) == (
        ALICE, ROOM, Level.USER, False, "$replied")
    assert ctx.args == ["One", "two"]  # the name is case-insensitive, the arguments are kept
    assert ctx.services is SERVICES
    assert ctx.registry is registry


async def test_an_alias_runs_its_command(registry: CommandRegistry, calls: Calls) -> None:
    await registry.run(["e"], invocation(Answers()))
    assert len(calls.contexts) == 1


async def test_an_unknown_command_is_named_in_the_answer(registry: CommandRegistry) -> None:
    answers = Answers()
    await registry.run(["Frobnicate", "x"], invocation(answers))
    assert answers.texts == ["Unknown command `frobnicate`. Send `help` for the list."]


async def test_an_admin_command_refuses_a_user(registry: CommandRegistry, calls: Calls) -> None:
    answers = Answers()
    await registry.run(["purge"], invocation(answers, level=Level.USER))
    assert answers.texts == ["`purge` is for bridge admins only."]
    assert calls.contexts == []
    await registry.run(["purge"], invocation(answers, level=Level.ADMIN))
    assert answers.texts[1:] == ["done"]


@pytest.mark.parametrize("words", [["echo"], ["purge"], ["frobnicate"]])
async def test_someone_below_user_level_is_refused_whatever_they_send(
        registry: CommandRegistry, calls: Calls, words: list[str]) -> None:
    answers = Answers()
    await registry.run(words, invocation(answers, level=Level.NONE))
    assert answers.texts == ["You are not allowed to use this bridge."]
    assert calls.contexts == []


async def test_a_command_error_is_shown_as_it_is(registry: CommandRegistry) -> None:
    answers = Answers()
    await registry.run(["refuse"], invocation(answers))
    assert answers.texts == ["Usage: `refuse <nothing>`"]


async def test_an_internal_error_is_logged_and_answered_without_details(
        registry: CommandRegistry, caplog: pytest.LogCaptureFixture) -> None:
    answers = Answers()
    with caplog.at_level(logging.ERROR, logger="bridge.commands"):
        await registry.run(["crash"], invocation(answers))
    assert answers.texts == [("`crash` failed because of an internal error; the bridge's log "
                              "has the details.")]
    assert "a bug" not in answers.texts[0]
    [record] = caplog.records
    assert record.getMessage() == "Command crash failed"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_two_commands_cannot_share_a_name(calls: Calls) -> None:
    with pytest.raises(ValueError, match="'e'"):
        CommandRegistry([Command("echo", calls.record, "one", aliases=("e",)),
                         Command("e", calls.record, "two")], prefix=PREFIX, services=SERVICES)


# --- the bridge's own list -----------------------------------------------------------------------


async def test_help_lists_what_the_level_allows_with_the_prefix_outside_the_management_room(
        ) -> None:
    registry = build_registry(PREFIX, SERVICES)
    answers = Answers()
    await registry.run(["help"], invocation(answers, management=False))
    [text] = answers.texts
    assert text.startswith(f"Commands you can use here (prefix them with `{PREFIX}`):")
    assert "- `opt-in [confirm]`" in text
    assert "`stats`" not in text  # an admin's
    admin = Answers()
    await registry.run(["?"], invocation(admin, level=Level.ADMIN))
    assert admin.texts[0].startswith("Commands you can use here:")
    assert "- `stats` — bridge statistics" in admin.texts[0]

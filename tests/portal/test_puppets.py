"""Ghosts: registered on first use, named from the template, avatar uploaded once and set again
only when the image changes, also across a restart (both engines, real Synapse)."""

from __future__ import annotations

import pytest

from tests.portal.helpers import CONTACT, GHOST, restartable_stack

pytestmark = pytest.mark.synapse

# Smallest valid PNGs are not needed: the homeserver stores any bytes with the given type.
AVATAR = b"\x89PNG\r\n\x1a\n first avatar"
NEW_AVATAR = b"\x89PNG\r\n\x1a\n second avatar"


async def test_ghost_profile_is_set_once_and_follows_changes(db_url, tmp_path):
    overrides = {"bridge.displayname_template": "{username} (third-party)"}
    async with restartable_stack(db_url, tmp_path, overrides=overrides) as stack:
        puppets = stack.bridge.running.puppets
        bot = stack.bridge.running.appservice.intent
        ghost = await puppets.get_or_create(CONTACT, "Bob")
        assert ghost.mxid == GHOST and ghost.displayname == "Bob (third-party)"
        assert await puppets.get_or_create(CONTACT, "Bob") is ghost
        assert (await bot.get_displayname(GHOST)) == "Bob (third-party)"
        assert await ghost.update_profile(username="Bob") is False

        assert await ghost.update_profile(avatar=AVATAR, avatar_mime="image/png") is True
        first_mxc = ghost.record.avatar_mxc
        assert first_mxc and (await bot.get_avatar_url(GHOST)) == first_mxc
        assert await ghost.update_profile(avatar=AVATAR, avatar_mime="image/png") is False
        assert ghost.record.avatar_mxc == first_mxc

        assert await ghost.update_profile(username="Robert", avatar=NEW_AVATAR,
                                          avatar_mime="image/png") is True
        assert ghost.record.avatar_mxc != first_mxc
        assert (await bot.get_avatar_url(GHOST)) == ghost.record.avatar_mxc
        assert (await bot.get_displayname(GHOST)) == "Robert (third-party)"

        bridge = await stack.restart_bridge()
        again = await bridge.running.puppets.get_or_create(CONTACT, "Robert")
        assert again is not ghost and again.record.avatar_mxc == ghost.record.avatar_mxc
        assert await again.update_profile(avatar=NEW_AVATAR, avatar_mime="image/png") is False
        assert (await bridge.running.puppets.by_mxid(GHOST)) is again
        assert bridge.running.puppets.is_ghost(GHOST) and not bridge.running.puppets.is_ghost(
                                                                                              bot.mxid)

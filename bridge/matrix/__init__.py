"""The Matrix side: the appservice listener, the bot, portals, puppets, users and commands."""

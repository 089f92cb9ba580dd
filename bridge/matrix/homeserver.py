"""Reaching the homeserver at start-up: wait for it with backoff, then check our registration."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError, MUnknownToken


class HomeserverRefused(Exception):
    """The homeserver answers but does not accept this bridge; retrying will not help."""


async def wait_for_homeserver(session: aiohttp.ClientSession, address: str, log: logging.Logger, *,
                              initial_delay: float = 1.0, max_delay: float = 30.0) -> list[str]:
    """Poll ``/_matrix/client/versions`` until it answers; returns the supported spec versions."""
    delay = initial_delay
    url = f"{address}/_matrix/client/versions"
    while True:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status == 200:
                    versions = (await resp.json()).get("versions", [])
                    log.info("Homeserver at %s is up (spec versions up to %s)", address,
                             versions[-1] if versions else "?")
                    return versions
                problem = f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            problem = str(e) or type(e).__name__
        log.warning("Homeserver at %s is not reachable yet (%s); retrying in %.0f s",
                    address, problem, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def check_registration(bot: IntentAPI, log: logging.Logger) -> None:
    """Ask the homeserver who our as_token belongs to; explain the usual set-up mistakes."""
    try:
        whoami = await bot.whoami()
    except MUnknownToken:
        raise HomeserverRefused(
            "The homeserver does not know this bridge's as_token. Add registration.yaml to the "
            "homeserver's app_service_config_files (Synapse) and restart the homeserver; if you "
            "generated a new registration, the homeserver still has the old one."
        ) from None
    except MatrixRequestError as e:
        raise HomeserverRefused(f"The homeserver refused the bridge's token check: {e}") from None
    if whoami.user_id != bot.mxid:
        raise HomeserverRefused(
            f"The as_token belongs to {whoami.user_id}, not {bot.mxid}: check "
            "appservice.bot_username and homeserver.domain against registration.yaml."
        )
    log.debug("Registration accepted: the homeserver knows the bot as %s", whoami.user_id)

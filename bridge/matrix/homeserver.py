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
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
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


async def check_homeserver_reaches_bridge(bot: IntentAPI, appservice_id: str, address: str,
                                          log: logging.Logger) -> None:
    """Have the homeserver call the bridge with its ``hs_token`` (MSC2659 ping) before the
    bridge calls itself ready: a wrong token or address otherwise looks like a bridge that
    works and never hears a thing. It also makes Synapse send what it queued at once."""
    try:
        await bot.appservice_ping(appservice_id)
    except MatrixRequestError as e:
        status = getattr(e, "http_status", 0)
        if e.errcode == "M_UNRECOGNIZED" or status in (404, 405):
            log.warning("The homeserver cannot ping appservices (MSC2659), so the bridge "
                        "cannot check that the homeserver reaches it at %s", address)
            return
        message = e.message or ""
        if e.errcode == "M_BAD_STATUS" and message.startswith(("HTTP 401", "HTTP 403")):
            raise HomeserverRefused(
                f"the homeserver reached the bridge at {address} but its hs_token was refused: "
                "appservice.hs_token in the config differs from hs_token in the registration "
                "file the homeserver loaded. Run `interop-bridge -g` and give the homeserver "
                "the new registration (then restart it), or copy the token over.") from None
        if e.errcode in ("M_CONNECTION_FAILED", "M_CONNECTION_TIMEOUT", "M_URL_NOT_SET"):
            raise HomeserverRefused(
                f"the homeserver could not reach the bridge at {address} "
                f"({e.errcode}: {e.message}): check appservice.address (the registration's "
                "url) and that the homeserver can connect to appservice.hostname and "
                "appservice.port.") from None
        raise HomeserverRefused(
            f"the homeserver's ping of the bridge failed ({e.errcode}: {e.message})") from None

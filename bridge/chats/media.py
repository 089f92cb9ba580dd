"""The media repositories the content mapping reads and writes.

`HomeserverMedia`: the homeserver's repository (authenticated media), through the bot.
`HostedMedia`: encrypted blobs the bridge hosts for the gatekeeper (served by the partner-server
route, only to gatekeeper-signed requests) and the gatekeeper's own media host for downloads.
Each hosted blob remembers the outgoing message it was made for: when that message fails for good
(the recipient is not opted in, blocked, it is too large, refused), the blob is withdrawn so that
nobody can fetch a file that was never delivered.
"""

from __future__ import annotations

import secrets
import time

import aiohttp
from mautrix.appservice import AppService, IntentAPI
from mautrix.types import ContentURI
from mautrix.util.async_db import Database

from ..gateway.ids import StorageReference


class HomeserverMedia:
    def __init__(self, appservice: AppService) -> None:
        self.appservice = appservice
        self._upload_limit: int | None = None
        self._limit_known = False

    @property
    def bot(self) -> IntentAPI:
        # the appservice's intent exists once it has started, after the services are built
        return self.appservice.intent

    @property
    def upload_limit(self) -> int | None:
        return self._upload_limit

    async def refresh_upload_limit(self) -> None:
        if not self._limit_known:
            config = await self.bot.get_media_repo_config()
            self._upload_limit = config.upload_size
            self._limit_known = True

    async def upload(self, data: bytes, mime_type: str, filename: str | None) -> ContentURI:
        return await self.bot.upload_media(data, mime_type=mime_type, filename=filename)

    async def download(self, uri: ContentURI) -> bytes:
        return await self.bot.download_media(uri)


_CHUNK = 64 * 1024


class MediaTooLargeToFetch(Exception):
    pass


class HostedMedia:
    def __init__(self, db: Database, http: aiohttp.ClientSession, *, gateway_base: str,
                 integrator_id: str) -> None:
        self.db = db
        self.http = http
        self.gateway_base = gateway_base.rstrip("/")
        self.integrator_id = integrator_id

    # --- the mapping's GatewayMedia --------------------------------------------------------

    def for_user(self, user_id: str, message_id: str | None = None) -> UserHostedMedia:
        return UserHostedMedia(self, user_id, message_id)

    async def download(self, path: str, max_size: int) -> bytes:
        async with self.http.get(self.gateway_base + path,
                                 timeout=aiohttp.ClientTimeout(total=120)) as resp:
            resp.raise_for_status()
            if resp.content_length is not None and resp.content_length > max_size:
                raise MediaTooLargeToFetch(f"{resp.content_length} bytes")
            # StreamReader.read(n) returns whatever is buffered (one network read), not n
            # bytes: read to the end, stopping as soon as the blob is longer than allowed.
            data = bytearray()
            async for chunk in resp.content.iter_chunked(_CHUNK):
                data += chunk
                if len(data) > max_size:
                    raise MediaTooLargeToFetch(f"more than {max_size} bytes")
            return bytes(data)

    async def store(self, user_id: str, blob: bytes, message_id: str | None = None) -> str:
        reference = secrets.token_urlsafe(24)
        await self.db.execute(
            "INSERT INTO hosted_media (storage_reference, user_id, blob, created_at, message_id) "
            "VALUES ($1, $2, $3, $4, $5)", reference, user_id, blob, int(time.time() * 1000),
            message_id)
        return f"/interop/whatsapp/download/{self.integrator_id}/{reference}/"

    async def withdraw(self, user_id: str, message_id: str) -> int:
        """Delete the blobs hosted for one of ``user_id``'s messages that failed for good; the
        partner route answers 404 for them from now on. Returns how many were withdrawn."""
        withdrawn = await self.db.fetch(
            "DELETE FROM hosted_media WHERE user_id=$1 AND message_id=$2 "
            "RETURNING storage_reference", user_id, message_id)
        return len(withdrawn)

    # --- the partner route's HostedMedia ---------------------------------------------------

    async def read_encrypted(self, reference: StorageReference) -> bytes | None:
        return await self.db.fetchval(
            "SELECT blob FROM hosted_media WHERE storage_reference=$1", reference)


class UserHostedMedia:
    """GatewayMedia for one user's messages (hosted blobs remember their user)."""

    def __init__(self, hosted: HostedMedia, user_id: str, message_id: str | None = None) -> None:
        self.hosted = hosted
        self.user_id = user_id
        self.message_id = message_id

    async def download(self, path: str, max_size: int) -> bytes:
        return await self.hosted.download(path, max_size)

    async def host(self, blob: bytes) -> str:
        return await self.hosted.store(self.user_id, blob, self.message_id)

"""Blobs uploaded to the gatekeeper's media server (already encrypted by the uploader)."""

from __future__ import annotations

from dataclasses import dataclass

from mautrix.util.async_db import Database


@dataclass(frozen=True)
class MediaBlob:
    file_reference: str
    content_type: str
    body: bytes
    uploader: str
    uploaded_at: int


class MediaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, blob: MediaBlob) -> None:
        await self.db.execute(
            """INSERT INTO media (file_reference, content_type, body, uploader, uploaded_at)
               VALUES ($1, $2, $3, $4, $5)""",
            blob.file_reference, blob.content_type, blob.body, blob.uploader, blob.uploaded_at,
        )

    async def get(self, file_reference: str) -> MediaBlob | None:
        row = await self.db.fetchrow("SELECT * FROM media WHERE file_reference=$1", file_reference)
        if row is None:
            return None
        return MediaBlob(row["file_reference"], row["content_type"], bytes(row["body"]),
                         row["uploader"], row["uploaded_at"])

    async def expire(self, cutoff_ms: int) -> None:
        await self.db.execute("DELETE FROM media WHERE uploaded_at < $1", cutoff_ms)

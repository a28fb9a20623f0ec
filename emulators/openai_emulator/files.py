"""In-memory store behind ``/v1/files``."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import APIError
from .text import random_id

UPLOAD_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    expires_at: int | None = None

    def to_api(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def __len__(self) -> int:
        return len(self._files)

    def add(
        self,
        *,
        filename: str,
        purpose: str,
        content: bytes,
        created_at: int,
        expires_at: int | None = None,
    ) -> StoredFile:
        stored = StoredFile(
            id=random_id("file-", 22),
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=created_at,
            expires_at=expires_at,
        )
        self._files[stored.id] = stored
        return stored

    def find(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def get(self, file_id: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise APIError(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete(self, file_id: str) -> StoredFile:
        stored = self.get(file_id)
        del self._files[file_id]
        return stored

    def list(self, *, purpose: str | None = None, order: str = "desc") -> list[StoredFile]:
        # Insertion order breaks ties between files created in the same second.
        items = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
        indexed = list(enumerate(items))
        indexed.sort(key=lambda pair: (pair[1].created_at, pair[0]), reverse=order != "asc")
        return [f for _, f in indexed]

    def clear(self) -> None:
        self._files.clear()

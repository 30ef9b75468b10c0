"""What the sink received, one JSON line per message in <state>/sink/messages.jsonl."""

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

KINDS = ("email", "sms", "task")


class Inbox:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / "messages.jsonl"
        self._lock = threading.Lock()

    def add(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        kept = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "received_at": datetime.now(UTC).isoformat(),
            **record,
        }
        with self._lock, self._path.open("ab") as out:
            out.write(orjson.dumps(kept) + b"\n")
        return kept

    def items(self, kind: str | None = None, to: str | None = None, limit: int = 100) -> list[Any]:
        """Newest first."""
        if not self._path.exists():
            return []
        with self._lock:
            lines = self._path.read_bytes().splitlines()
        found: list[Any] = []
        for line in reversed(lines):
            item = orjson.loads(line)
            if (kind is None or item["kind"] == kind) and (to is None or item.get("to") == to):
                found.append(item)
                if len(found) >= limit:
                    break
        return found

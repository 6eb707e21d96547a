"""Pages of a list and the opaque cursors that say where the next one starts."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.config_api.domain.inputs import InvalidInput

_INVALID = [{"path": "query.cursor", "message": "not a cursor from this API"}]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_api(self) -> dict[str, Any]:
        return {"items": self.items, "nextCursor": self.next_cursor}


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor", _INVALID) from None
    if "\x00" in raw:
        raise InvalidInput("invalid cursor", _INVALID)
    return raw


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a list ordered by ``(created_at, id)``."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        return _encode(f"{self.created_at.isoformat()}|{self.id}")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            created_at, item_id = _decode(token).split("|", 1)
            # Normalized to UTC here: a far-off offset near datetime's range would otherwise
            # overflow in the database driver.
            when = datetime.fromisoformat(created_at)
            if when.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(when.astimezone(UTC), item_id)
        except (ValueError, OverflowError):
            raise InvalidInput("invalid cursor", _INVALID) from None


@dataclass(frozen=True, slots=True)
class PositionCursor:
    """A position in a list ordered by an integer (a version number, an audit sequence)."""

    position: int

    def encode(self) -> str:
        return _encode(f"p{self.position}")

    @classmethod
    def decode(cls, token: str, *, maximum: int) -> PositionCursor:
        raw = _decode(token)
        digits = raw[1:]
        if (
            not raw.startswith("p")
            or not digits.isascii()
            or not digits.isdigit()
            or len(digits) > 19
        ):
            raise InvalidInput("invalid cursor", _INVALID)
        position = int(digits)
        if not 0 < position <= maximum:
            raise InvalidInput("invalid cursor", _INVALID)
        return cls(position)

"""Turning one-more-than-a-page of records into a page and the cursor after it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from services.config_api.domain import Page


class _Shown(Protocol):
    def to_api(self) -> dict[str, Any]: ...


Shown = TypeVar("Shown", bound=_Shown)


def page_of(records: Sequence[Shown], limit: int, cursor_after: Callable[[Shown], str]) -> Page:
    """The page of ``records`` (fetched as up to ``limit + 1``) and the cursor after it.

    Fetching one more than asked tells whether there is a next page without a count query.
    """
    shown = list(records[:limit])
    more = len(records) > limit and bool(shown)
    return Page([record.to_api() for record in shown], cursor_after(shown[-1]) if more else None)

"""The error details every service reports: ``[{"path", "message"}]`` with JSON paths.

HTTP error bodies (``{"error": {"code", "message", "details"}}``) and dead-letter records carry
the same details, so a producer reads one format whichever way its input was refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

MAX_DETAILS = 20
"""Most problems one error lists: enough to fix an input, bounded for a hostile one."""


def json_path(location: Iterable[int | str], *, prefix: str = "$") -> str:
    """``("actions", 0, "url")`` → ``$.actions[0].url`` (below ``prefix``, e.g. ``$[3]``)."""
    path = prefix
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validation_details(error: ValidationError, *, prefix: str = "$") -> list[dict[str, str]]:
    """One ``{path, message}`` per problem pydantic found, at most ``MAX_DETAILS``."""
    return [
        {"path": json_path(e["loc"], prefix=prefix), "message": e["msg"]}
        for e in error.errors()[:MAX_DETAILS]
    ]

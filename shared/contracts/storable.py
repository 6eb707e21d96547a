"""What every part of the pipeline can store and send on: JSON without NUL, lone surrogates,
NaN or Infinity.

PostgreSQL's ``jsonb`` and ``text`` refuse the NUL character, JSON has no NaN or Infinity, and a
lone surrogate (``"\\ud800"``, a valid JSON escape) is not UTF-8 at all — yet Python's JSON
parser accepts all of them. Input holding one is refused where it enters (a 422 naming the JSON
path, or a dead letter), instead of failing later in a consumer that would meet it again at
every restart.
"""

from __future__ import annotations

import math
import re
from typing import Any

from shared.contracts.errors import MAX_DETAILS


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as PostgreSQL text, or None."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no lone surrogates)"
    return None


def refuse_unstorable_text(text: str) -> str:
    """``text`` if it can be stored as PostgreSQL text, else ``ValueError`` (a pydantic
    ``AfterValidator``)."""
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def storage_problems(
    document: object, *, path: str = "$", max_depth: int | None = None, limit: int = MAX_DETAILS
) -> list[dict[str, str]]:
    """``{path, message}`` for each value of ``document`` (parsed JSON) that cannot be stored,
    at most ``limit``; with ``max_depth``, objects and lists nested deeper are one more problem.

    Iterative: any depth is walked without recursion.
    """
    problems: list[dict[str, str]] = []
    pending: list[tuple[str, object, int]] = [(path, document, 0)]
    while pending and len(problems) < limit:
        at, value, depth = pending.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                problems.append({"path": at, "message": problem})
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append({"path": at, "message": "numbers must be finite"})
        elif isinstance(value, dict | list):
            if max_depth is not None and depth >= max_depth:
                problems.append({"path": at, "message": f"nests deeper than {max_depth} levels"})
            elif isinstance(value, dict):
                for key, item in value.items():
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem is not None:
                        problems.append({"path": at, "message": f"a key {problem}"})
                    pending.append((f"{at}.{key}", item, depth + 1))
            else:
                pending.extend((f"{at}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return problems[:limit]


REPLACEMENT = "\ufffd"
_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD."""
    if text_problem(text) is None:
        return text
    return _UNSTORABLE_CHARACTERS.sub(REPLACEMENT, text)


def storable_copy(value: object, *, max_depth: int = 32) -> Any:
    """A copy of ``value`` that PostgreSQL ``jsonb`` can store, for what the system writes itself
    (step logs, error messages with a receiver's answer in them), where refusing is no option:
    texts made storable (``storable_text``), non-finite numbers as null, keys as text, anything
    that is not JSON as its ``str``, and what nests deeper than ``max_depth`` as its ``str``
    (cut to 1,000 characters).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict | list | tuple) and max_depth > 0:
        if isinstance(value, dict):
            return {
                storable_text(str(key)): storable_copy(item, max_depth=max_depth - 1)
                for key, item in value.items()
            }
        return [storable_copy(item, max_depth=max_depth - 1) for item in value]
    text = value if isinstance(value, str) else str(value)[:1000]
    return storable_text(text)

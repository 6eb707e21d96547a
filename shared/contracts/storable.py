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

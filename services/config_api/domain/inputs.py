"""What a request may carry, and the errors that say precisely what it got wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.contracts import WorkflowDefinition
from shared.contracts.errors import json_path, validation_details
from shared.contracts.storable import storage_problems, text_problem

__all__ = ["json_path", "validation_details"]  # re-exported for the rest of the domain


class InvalidInput(Exception):
    """A request that is well-formed but not a valid input (422); names each field at fault."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Conflict(Exception):
    """A valid request that contradicts the current state (409)."""

    code = "conflict"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class VersionConflict(Conflict):
    """The caller edited a version that is no longer the current one."""

    code = "version_conflict"


def parse_definition(body: object) -> WorkflowDefinition:
    """Validate a workflow definition; raises ``InvalidInput`` naming every JSON path at fault."""
    try:
        return WorkflowDefinition.model_validate(body)
    except ValidationError as error:
        raise InvalidInput(
            "the workflow definition is invalid", validation_details(error)
        ) from None


def check_text(text: str, path: str) -> None:
    """Raise ``InvalidInput`` if ``text`` cannot be stored as PostgreSQL text."""
    problem = text_problem(text)
    if problem is not None:
        raise InvalidInput("invalid text", [{"path": path, "message": problem}])


def check_json(document: object) -> None:
    """Raise ``InvalidInput`` naming each value of parsed JSON that PostgreSQL cannot store
    (``shared.contracts.storable``): NUL characters, lone surrogates, NaN, Infinity."""
    problems = storage_problems(document)
    if problems:
        raise InvalidInput("the body holds values that cannot be stored", problems)


def parse_limit(raw: str | None, *, maximum: int, default: int = 50) -> int:
    """The ``limit`` query parameter: an integer from 1 to ``maximum``."""
    if raw is None:
        return min(default, maximum)
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise InvalidInput(
            "invalid limit", [{"path": "query.limit", "message": f"an integer from 1 to {maximum}"}]
        )
    return limit


@dataclass(frozen=True, slots=True)
class Precondition:
    """The versions a write was made against: it applies only if the current one is among them."""

    where: str
    """Where the caller stated it: ``$.version`` or ``header.If-Match``."""
    versions: frozenset[int]

    def check(self, current: int) -> None:
        """Raise ``VersionConflict`` unless ``current`` is an expected version."""
        if current not in self.versions:
            expected = ", ".join(str(v) for v in sorted(self.versions))
            raise VersionConflict(
                f"the workflow is at version {current}, not {expected}",
                [{"path": self.where, "message": f"the current version is {current}"}],
            )


_ENTITY_TAG = re.compile(r'^(?:W/)?"?([0-9]{1,10})"?$')


def parse_if_match(header: str | None) -> Precondition | None:
    """An ``If-Match`` header of version ETags (``"3"``, ``W/"3"``, ``3``, a list, or ``*``)."""
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for tag in header.split(","):
        match = _ENTITY_TAG.match(tag.strip())
        if match is None:
            raise InvalidInput(
                "invalid If-Match header",
                [{"path": "header.If-Match", "message": 'a version ETag such as "3", or *'}],
            )
        versions.add(int(match.group(1)))
    return Precondition("header.If-Match", frozenset(versions))


def parse_body_version(value: Any) -> Precondition:
    """The optional ``version`` of an edit body, as a precondition."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            "invalid version",
            [{"path": "$.version", "message": "the version being edited: an integer from 1"}],
        )
    return Precondition("$.version", frozenset({value}))

"""Validation errors as the JSON paths the config API reports (``$.actions[0].slack.channel``)."""

from __future__ import annotations

from pydantic import ValidationError


def json_paths(error: ValidationError) -> list[str]:
    paths = []
    for detail in error.errors():
        path = "$"
        for part in detail["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        paths.append(path)
    return paths

"""M6's peer: ``py-a-tree`` (the Rust A-Tree of SIGMOD 2021) on the workflows and events given.

Runs under its own interpreter (py-a-tree needs Python >= 3.13, the project runs on 3.11), so
it imports nothing of the project: it reads one JSON document on stdin —
``{"attributes": {name: "string" | "integer"}, "expressions": [[id, text], ...],
"events": [{name: value}, ...], "rounds": n}`` — and prints one JSON document: insertion time,
the best round's events per second (process CPU time), and the ids each event matched.
"""

from __future__ import annotations

import json
import sys
import time

from a_tree import ATree, AttributeDefinition  # type: ignore[import-not-found]


def _ids(matches: object) -> list[int]:
    """The matched ids: ``Report.matches`` is a list in 0.1.0 (its stub says a method)."""
    return list(matches() if callable(matches) else matches)  # type: ignore[call-overload]


def main() -> None:
    job = json.load(sys.stdin)
    kinds = {"string": AttributeDefinition.string, "integer": AttributeDefinition.integer}
    tree = ATree([kinds[kind](name) for name, kind in job["attributes"].items()])
    started = time.process_time()
    for number, expression in job["expressions"]:
        tree.insert(number, expression)
    inserted = time.process_time() - started

    def build(values: dict[str, object]) -> object:
        builder = tree.make_event()
        for name, value in values.items():
            if isinstance(value, str):
                builder.with_string(name, value)
            else:
                builder.with_integer(name, value)
        return builder.build()

    events = [build(values) for values in job["events"]]
    best = 0.0
    matches: list[list[int]] = []
    for _ in range(job["rounds"]):
        started = time.process_time()
        found = [_ids(tree.search(event).matches) for event in events]
        elapsed = time.process_time() - started
        best = max(best, len(events) / elapsed)
        matches = found
    print(
        json.dumps(
            {
                "insert_seconds": inserted,
                "events_per_second": best,
                "matches": [sorted(ids) for ids in matches],
            }
        )
    )


if __name__ == "__main__":
    main()

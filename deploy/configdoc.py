"""Write ``docs/configuration.md`` from the settings classes: ``python -m deploy.configdoc``."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from services.config_api.settings import ConfigApiSettings
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared.settings import SHARED_SETTINGS, environment_variables

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("config API (`python -m services.config_api`)", ConfigApiSettings),
    ("ingest (`python -m services.ingest`)", IngestSettings),
    ("matcher (`python -m services.matcher`)", MatcherSettings),
    ("executor (`python -m services.executor`)", ExecutorSettings),
    ("scheduler (`python -m services.scheduler`)", SchedulerSettings),
]

LOCAL_STACK = [
    ("DEV_API_KEY", "dev-demo-key", "API key of the `demo` tenant that `make run` creates"),
    (
        "HUBSPOT_CLIENT_SECRET",
        "dev-hubspot-client-secret",
        "the `demo` tenant's HubSpot app secret (inbound signature checks)",
    ),
    (
        "WEBHOOK_INBOUND_SECRET",
        "dev-inbound-webhook-secret",
        "the `demo` tenant's shared secret for aws, azure, salesforce and native webhooks (`Authorization: Bearer`)",
    ),
    (
        "SINK_PORT",
        "8090",
        "HTTP port of the development sink (`deploy/local/sink.py`): the provider stand-ins, "
        "the webhook receiver under `/webhooks/`, and the listing of what was sent",
    ),
    ("SINK_SMTP_PORT", "2525", "SMTP port of the development sink"),
    (
        "SLACK_BOT_TOKEN, TEAMS_WEBHOOK_URL, SALESFORCE_ACCESS_TOKEN, HUBSPOT_ACCESS_TOKEN, SMTP_HOST",
        "(unset: that provider goes to the sink)",
        "`make run` points each provider whose credential is not set at the development sink",
    ),
    ("KAFKA_BOOTSTRAP_SERVERS", "(unset: start the embedded broker on 127.0.0.1:9092)", ""),
    ("DATABASE_URL", "(unset or unreachable: start an embedded PostgreSQL)", ""),
    ("TEST_KAFKA_BOOTSTRAP_SERVERS", "(unset: the tests start an embedded broker)", "tests only"),
    (
        "TEST_DATABASE_URL",
        "(unset: the tests start an embedded PostgreSQL)",
        "tests only; each run creates and drops its own database there",
    ),
]


def _row(row: tuple[str, str, str]) -> str:
    variable, default, meaning = row
    return f"| `{variable}` | {default and f'`{default}`'} | {meaning} |"


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Every service is configured by environment variables only, read once at start.",
        "This page is generated from the settings classes (`python -m deploy.configdoc`);",
        "a unit test fails when it is out of date.",
        "",
        "Variables without a service prefix (`KAFKA_*`, `DATABASE_URL`, `TOPIC_PREFIX`, `LOG_*`,",
        "`WEBHOOK_*`, `DB_POOL_*`) mean the same thing in every service that reads them.",
        "",
        "`make run` (and the tests) give the embedded broker shorter client timings:",
        "`KAFKA_SESSION_TIMEOUT_MS=2000`, `KAFKA_HEARTBEAT_INTERVAL_MS=500`,",
        "`KAFKA_FETCH_MAX_WAIT_MS=50`, `KAFKA_TOPIC_PARTITIONS=4`, and",
        "`WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`, `LOG_FORMAT=text`; anything set in the environment",
        "wins. The defaults below are production defaults.",
        "",
    ]
    header = ["| variable | default | meaning |", "|---|---|---|"]
    lines += ["## Every service", "", *header]
    for shared in SHARED_SETTINGS:
        lines += [_row(row) for row in environment_variables(shared)]
    lines.append("")
    for title, settings in SERVICES:
        lines += [f"## {title}", "", *header]
        lines += [_row(row) for row in environment_variables(settings, skip=SHARED_SETTINGS)]
        lines.append("")
    lines += [
        "## `make run` and the tests",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{v}` | {d} | {m} |" for v, d, m in LOCAL_STACK]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if DOCUMENT.read_text() == render() else 1)
    DOCUMENT.write_text(render())

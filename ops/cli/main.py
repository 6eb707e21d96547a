"""``wf``: operate the workflow system from a terminal or a script.

Talks to the config API (``--api-url`` / ``WF_API_URL``, ``--api-key`` / ``WF_API_KEY``: a key
of the tenant to act for) and to Kafka (``KAFKA_BOOTSTRAP_SERVERS``, ``TOPIC_PREFIX`` and the
``KAFKA_*`` security settings, as the services read them). Tables by default, ``--json`` for
scripts. Exit status: 0 done, 1 refused or partly failed, 2 usage or unreadable input,
3 not found, 4 not authorized, 5 config API or Kafka unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from ops.catalogue import consumer_groups
from ops.cli import kafka
from ops.cli.api import ConfigApi
from ops.cli.output import FAILED, OK, USAGE, Failure, emit
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared.settings import KafkaSettings

DEFAULT_API_URL = "http://127.0.0.1:8080"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

Command = Callable[[argparse.Namespace, TextIO], Coroutine[Any, Any, int]]


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``7d`` (ago) or an ISO 8601 time (UTC when it names no offset)."""
    now = now or datetime.now(UTC)
    if match := _DURATION.match(text.strip()):
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: float(amount)})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise Failure(USAGE, f"{path}: {error.strerror or error}") from None
    except ValueError as error:
        raise Failure(USAGE, f"{path}: not JSON: {error}") from None


def read_objects(path: str) -> list[dict[str, Any]]:
    """A file holding one JSON object or an array of them."""
    data = read_json(path)
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Failure(USAGE, f"{path}: item {index} is not a JSON object")
    return items


def kafka_settings(args: argparse.Namespace) -> KafkaSettings:
    overrides: dict[str, Any] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.topic_prefix is not None:
        overrides["TOPIC_PREFIX"] = args.topic_prefix
    try:
        return KafkaSettings(**overrides)
    except ValidationError as error:
        raise Failure(USAGE, f"Kafka settings: {error}") from None


def config_api(args: argparse.Namespace) -> ConfigApi:
    return ConfigApi(args.api_url, args.api_key)


# --- commands over the config API ------------------------------------------------------------


async def apply(args: argparse.Namespace, out: TextIO) -> int:
    documents = [(path, item) for path in args.files for item in read_objects(path)]
    for path, item in documents:
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise Failure(USAGE, f"{path}: every workflow needs a 'name' (apply matches by it)")
    rows: list[dict[str, Any]] = []
    async with config_api(args) as api:
        existing: dict[str, list[dict[str, Any]]] = {}
        async for workflow in api.pages("/api/workflows"):
            existing.setdefault(workflow["name"], []).append(workflow)
        for path, item in documents:
            rows.append(await _apply_one(api, path, item, existing))
    emit(rows, as_json=args.json, columns=["name", "id", "outcome", "version", "file"], out=out)
    return (
        FAILED
        if any(row["outcome"] not in ("created", "updated", "unchanged") for row in rows)
        else OK
    )


async def _apply_one(
    api: ConfigApi, path: str, item: dict[str, Any], existing: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    name = item["name"]
    matches = existing.get(name, [])
    row: dict[str, Any] = {"name": name, "file": path, "id": None, "version": None}
    if len(matches) > 1:
        return {**row, "outcome": f"refused: {len(matches)} workflows are named so"}
    try:
        if matches:
            before = matches[0]
            after = await api.call("PUT", f"/api/workflows/{before['id']}", item)
            outcome = "unchanged" if after["version"] == before["version"] else "updated"
        else:
            after = await api.call("POST", "/api/workflows", item)
            outcome = "created"
    except Failure as failure:
        if failure.code != FAILED:
            raise  # unreachable, unauthorized: nothing else will work either
        return {
            **row,
            "id": matches[0]["id"] if matches else None,
            "outcome": f"refused: {failure.message}",
        }
    existing[name] = [after]
    return {**row, "id": after["id"], "version": after["version"], "outcome": outcome}


_WORKFLOW_COLUMNS = ["id", "name", "status", "trigger", "version", "updatedAt"]


async def list_workflows(args: argparse.Namespace, out: TextIO) -> int:
    params = {key: value for key in ("status", "trigger") if (value := getattr(args, key))}
    async with config_api(args) as api:
        workflows = [workflow async for workflow in api.pages("/api/workflows", params)]
    emit(workflows, as_json=args.json, columns=_WORKFLOW_COLUMNS, out=out)
    return OK


def set_status(status: str) -> Command:
    async def change(args: argparse.Namespace, out: TextIO) -> int:
        async with config_api(args) as api:
            workflow = await api.call("PUT", f"/api/workflows/{args.id}", {"status": status})
        emit(workflow, as_json=args.json, rows=[workflow], columns=_WORKFLOW_COLUMNS, out=out)
        return OK

    return change


async def test(args: argparse.Namespace, out: TextIO) -> int:
    data = read_json(args.data)
    if not isinstance(data, dict):
        raise Failure(USAGE, f"{args.data}: the test data must be a JSON object")
    async with config_api(args) as api:
        result = await api.call(
            "POST", f"/api/workflows/{args.id}/test", {"dryRun": True, "testData": data}
        )
    if not args.json:
        conditions = result.get("conditions") or {}
        print(
            f"workflow {result['workflowId']} v{result['version']} ({result['status']}): "
            f"would run: {'yes' if result['wouldRun'] else 'no'}"
            + ("" if not conditions else f" (conditions: {conditions.get('result')})"),
            file=out,
        )
        if result.get("missingVariables"):
            print(f"missing variables: {', '.join(result['missingVariables'])}", file=out)
    emit(
        result,
        as_json=args.json,
        rows=result["actions"],
        columns=["index", "type", "wouldRun", "missingVariables", "rendered"],
        out=out,
    )
    return OK


async def executions(args: argparse.Namespace, out: TextIO) -> int:
    found: list[dict[str, Any]] = []
    async with config_api(args) as api:
        async for execution in api.pages(f"/api/workflows/{args.id}/executions"):
            found.append(execution)
            if len(found) >= args.limit:
                break
    rows = [{**e, "errorCode": (e.get("error") or {}).get("code")} for e in found]
    emit(
        found,
        as_json=args.json,
        rows=rows,
        columns=["id", "status", "workflowVersion", "createdAt", "finishedAt", "errorCode"],
        out=out,
    )
    return OK


async def execution(args: argparse.Namespace, out: TextIO) -> int:
    async with config_api(args) as api:
        record = await api.call("GET", f"/api/executions/{args.id}")
    if not args.json:
        print(
            f"execution {record['id']}: {record['status']} (workflow {record['workflowId']} "
            f"v{record['workflowVersion']}, {record['trigger']}, created {record['createdAt']})",
            file=out,
        )
        if record.get("error"):
            print(f"error: {json.dumps(record['error'])}", file=out)
    emit(
        record,
        as_json=args.json,
        rows=record.get("steps") or [],
        columns=["stepIndex", "actionType", "status", "attempts", "responseStatus", "error"],
        out=out,
    )
    return OK


# --- commands over Kafka ---------------------------------------------------------------------


async def send(args: argparse.Namespace, out: TextIO) -> int:
    events = read_objects(args.file)
    settings = kafka_settings(args)
    if args.tenant is None:
        for index, event in enumerate(events):
            if not kafka._tenant_of(event):
                raise Failure(USAGE, f"{args.file}: event {index} names no tenantId; pass --tenant")
    sent = await kafka.send_events(settings, events, tenant=args.tenant, source=args.source)
    rows = [asdict(record) for record in sent]
    emit(
        rows, as_json=args.json, columns=["topic", "partition", "offset", "type", "tenant"], out=out
    )
    return OK


async def lag(args: argparse.Namespace, out: TextIO) -> int:
    settings = kafka_settings(args)
    if args.group:
        if not args.topic:
            raise Failure(USAGE, "--group needs --topic (the topics the group consumes)")
        groups = {args.group: args.topic}
    else:
        groups = consumer_groups(
            IngestSettings(kafka=settings),
            MatcherSettings(kafka=settings),
            ExecutorSettings(kafka=settings),
            SchedulerSettings(kafka=settings),
        )
    rows = [asdict(partition) for partition in await kafka.consumer_lag(settings, groups)]
    emit(
        rows,
        as_json=args.json,
        columns=["group", "topic", "partition", "end_offset", "committed", "lag", "lag_seconds"],
        out=out,
    )
    return OK


async def replay(args: argparse.Namespace, out: TextIO) -> int:
    rows = await kafka.replay(
        kafka_settings(args), args.kind, since=args.since, dry_run=args.dry_run
    )
    emit(
        rows,
        as_json=args.json,
        columns=["id", "replayedAs", "tenant", "error", "from", "outcome"],
        out=out,
    )
    return OK


# --- the parser ------------------------------------------------------------------------------


def common_options(*, top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    Below the top level their defaults are suppressed, so that an option given before the
    command is not reset by the command's own parser.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        default=default(os.environ.get("WF_API_URL", DEFAULT_API_URL)),
        help=f"the config API (env WF_API_URL; default {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--api-key",
        default=default(os.environ.get("WF_API_KEY")),
        help="API key of the tenant to act for (env WF_API_KEY)",
    )
    common.add_argument(
        "--bootstrap-servers",
        default=default(None),
        help="Kafka brokers (default: env KAFKA_BOOTSTRAP_SERVERS)",
    )
    common.add_argument(
        "--topic-prefix", default=default(None), help="topic prefix (default: env TOPIC_PREFIX)"
    )
    common.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON, not a table"
    )
    return common


def parser() -> argparse.ArgumentParser:
    common = common_options(top=False)
    top = argparse.ArgumentParser(
        prog="wf",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_options(top=True)],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        sub.set_defaults(run=run)
        return sub

    sub = command(
        "apply",
        apply,
        "create or update workflows from JSON files (one object or an array each), matched "
        "by name; keys a file leaves out keep their stored values",
    )
    sub.add_argument("files", nargs="+", metavar="FILE")

    sub = command("list", list_workflows, "list the tenant's workflows")
    sub.add_argument("--status", choices=["draft", "active", "paused", "archived"])
    sub.add_argument("--trigger", help="only workflows with this trigger")

    for name, status in (("activate", "active"), ("pause", "paused")):
        sub = command(name, set_status(status), f"set a workflow's status to {status}")
        sub.add_argument("id", metavar="ID")

    sub = command("test", test, "dry-run a workflow against test data (nothing is performed)")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("--data", required=True, metavar="FILE", help="JSON object: the event data")

    sub = command(
        "send",
        send,
        "publish events (a JSON object or array) to events.inbound for ingest; a rejected "
        "one lands on events.deadletter",
    )
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--tenant", help="the tenant (default: each event's tenantId)")
    sub.add_argument("--source", default="native", help="the inbound format (default: native)")

    sub = command("executions", executions, "a workflow's executions, newest first")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("--limit", type=int, default=50, help="most executions shown (default 50)")

    sub = command("execution", execution, "one execution and its steps")
    sub.add_argument("id", metavar="ID")

    sub = command("lag", lag, "consumer lag of every service's group, per partition")
    sub.add_argument("--group", help="another consumer group (with --topic)")
    sub.add_argument("--topic", action="append", help="a topic --group consumes (repeatable)")

    sub = command(
        "replay",
        replay,
        "re-publish dead letters after a fix, each id once (see docs/operations.md)",
    )
    sub.add_argument("kind", choices=["events", "executions"])
    sub.add_argument(
        "--since",
        type=parse_since,
        help="only dead letters from this time on: 30m, 2h, 7d (ago) or ISO 8601",
    )
    sub.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns its exit status (``wf`` exits with it)."""
    args = parser().parse_args(argv)
    out = out or sys.stdout
    try:
        return int(asyncio.run(args.run(args, out)))
    except Failure as failure:
        print(f"wf {args.command}: {failure.message}", file=sys.stderr)
        return failure.code

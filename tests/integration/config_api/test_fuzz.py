"""Schema-driven fuzzing: schemathesis generates requests for every operation of the live
``/api/openapi.json`` (valid and invalid ones) and no answer may be a 5xx.

The service runs as a real process (``python -m services.config_api``, no arguments), so this
also shows the module starts the service and stops it cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error

from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.adapters.postgres import migrate
from shared import tenancy
from shared.postgres import Pool, apply_migrations
from shared.testing.infra import free_port
from tests.conftest import FAST_KAFKA
from tests.integration.config_api.support import WEBHOOK_WORKFLOW

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLES_PER_OPERATION = 15
"""Per operation and generation mode: 21 operations, 2 modes, about half a minute."""


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    key: str
    real_ids: dict[str, str]
    """Path parameters naming real resources of the key's tenant, to fuzz bodies against."""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - a loopback URL built here
            self.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis caches what it learns under ``.hypothesis/``; keep that out of the work tree."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
async def fuzz_key(pool: Pool, tenant_id: str) -> str:
    await migrate(pool)
    await apply_migrations(pool, owner="executor", package="services.executor")
    await tenancy.create_tenant(pool, tenant_id)
    return await tenancy.create_api_key(pool, tenant_id)


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/readyz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the service was not ready within 60 s:\n{log.read_text()}")


@pytest.fixture
def live_api(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, fuzz_key: str
) -> Iterator[LiveApi]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_PREFIX": topic_prefix,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        **{f"KAFKA_{name.upper()}": str(value) for name, value in FAST_KAFKA.items()},
    }
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "config-api.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.config_api"],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                base_url = f"http://127.0.0.1:{port}"
                _wait_ready(base_url, process, log)
                live = LiveApi(base_url, fuzz_key, {})
                # A webhook.received workflow: its hook token can be issued (and rotated).
                workflow = live.call(
                    "POST", "/api/workflows", {**WEBHOOK_WORKFLOW, "trigger": "webhook.received"}
                )
                template = live.call(
                    "POST",
                    "/api/email-templates",
                    {"name": "fuzz", "subject": "s", "body": "b"},
                )
                yield LiveApi(
                    base_url,
                    fuzz_key,
                    {
                        "workflow_id": workflow["id"],
                        "template_id": template["id"],
                        "slug": "high-value-deal-alert",
                    },
                )
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise
                errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
        assert code == 0, "the service stops cleanly on SIGTERM"
        assert errors == [], "no unhandled error was logged"


def operations(live_api: LiveApi) -> list[APIOperation]:
    """Every operation of the live document (an operation schemathesis cannot read fails here)."""
    schema = schemathesis.openapi.from_url(live_api.base_url + "/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis's pytest integration (``schema.parametrize``) does not run on pytest 9.2 (it sets
# the removed ``Node._nodeid``); its Hypothesis strategies are the same generator, driven here.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_api_fail(live_api: LiveApi, mode: GenerationMode) -> None:
    auth = {"Authorization": f"Bearer {live_api.key}"}
    checked = set()
    for operation in operations(live_api):
        strategies = [operation.as_strategy(generation_mode=mode)]
        # Random ids mostly reach a 404; the same generation against real resources reaches the
        # code behind it. Not for DELETE: the resources must live for the other cases.
        names = {parameter.name for parameter in operation.path_parameters}
        real = {k: v for k, v in live_api.real_ids.items() if k in names}
        if real and operation.method.upper() != "DELETE":
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,  # no .hypothesis/ directory in the work tree
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, checks=[not_a_server_error])

        no_server_error()
        checked.add(operation.label)
    documented = openapi_document(200)["paths"]
    # schemathesis leaves out the document it was loaded from.
    expected = {f"{m.upper()} {p}" for p, item in documented.items() for m in item}
    assert checked == expected - {"GET /api/openapi.json"}

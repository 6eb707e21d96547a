"""``deploy/compose.yaml``: valid against the Compose Specification, and every reference in it real.

No Docker engine runs here, so the file is checked as data: the compose-spec JSON schema
(vendored, ``deploy/schemas``), then each reference — images, commands, ports, environment
variable names the settings classes know, mounted files, dependencies, partition counts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ops.catalogue import SERVICES
from tests.deploy.environment import known_variables, port_of, runnable, shutdown_grace
from tests.deploy.tools import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"
OWN_IMAGE = "workflow-automation"
_INTERPOLATION = re.compile(r"\$\{\w+(?::?-([^}]*))?(?::?\?[^}]*)?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def ours() -> dict[str, dict[str, Any]]:
    """The containers of our image: the services and the migration job."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if str(service.get("image", "")).startswith(f"{OWN_IMAGE}:")
    }


def interpolated(value: str) -> str:
    """``value`` with each ``${VAR:-default}`` replaced by its default (what a bare host gets)."""
    return _INTERPOLATION.sub(lambda match: match.group(1) or "", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {
        key: interpolated(str(value)) for key, value in (service.get("environment") or {}).items()
    }


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    jsonschema.validate(compose(), schema, cls=jsonschema.Draft7Validator)


def test_the_specification_check_refuses_a_broken_file() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    broken = compose()
    broken["services"]["ingest"]["restart_policy"] = "always"  # no such key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_every_service_runs_from_our_image_with_a_module_that_exists() -> None:
    containers = ours()
    modules = {name: service["command"][0] for name, service in containers.items()}
    assert {entry.name: entry.module for entry in SERVICES}.items() <= modules.items()
    assert modules["migrate"] == "ops.migrate"
    for name, module in modules.items():
        assert runnable(module), f"{name}: python -m {module} does not exist"
    build = compose()["x-workflow-service"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()


def test_every_environment_variable_is_one_the_service_reads() -> None:
    for name, service in ours().items():
        module = service["command"][0]
        unknown = set(environment(service)) - known_variables(module)
        assert unknown == set(), f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_published_ports_are_the_ports_the_services_listen_on() -> None:
    for name, service in ours().items():
        module = service["command"][0]
        if module.startswith("ops."):
            assert "ports" not in service
            continue
        port = port_of(module, environment(service))
        published = [str(p).split(":")[-1] for p in service.get("ports", [])]
        exposed = [str(p) for p in service.get("expose", [])]
        assert published + exposed == [str(port)], name


def test_matcher_and_executor_can_be_scaled() -> None:
    for name in ("matcher", "executor", "scheduler"):
        service = compose()["services"][name]
        assert "container_name" not in service, name
        assert "ports" not in service, f"{name}: a fixed host port allows one replica only"


def test_the_stop_grace_period_outlasts_the_services_shutdown_grace() -> None:
    for name, service in ours().items():
        module = service["command"][0]
        if module.startswith("ops."):
            continue
        seconds = float(str(service["stop_grace_period"]).removesuffix("s"))
        assert seconds > shutdown_grace(module, environment(service)) + 5, name


def test_every_service_waits_for_the_migration_which_waits_for_kafka_and_postgres() -> None:
    services = compose()["services"]
    for name, service in ours().items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    assert services["migrate"]["command"] == ["ops.migrate", "--topics"]


def test_every_container_shares_one_partition_count() -> None:
    counts = {
        name: environment(service)["KAFKA_TOPIC_PARTITIONS"] for name, service in ours().items()
    }
    assert len(set(counts.values())) == 1, counts


def test_kafka_runs_in_kraft_mode_from_the_official_image() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    bootstrap = {environment(service)["KAFKA_BOOTSTRAP_SERVERS"] for service in ours().values()}
    assert bootstrap == {
        kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
    }


def test_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        image = str(service["image"])
        if image.startswith(f"{OWN_IMAGE}:"):
            continue  # built from deploy/Dockerfile
        repository, _, tag = image.rpartition(":")
        assert repository, name
        assert tag not in ("", "latest"), name


def test_mounted_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source}"
            else:
                assert source in compose()["volumes"], f"{name}: named volume {source}"


def test_prometheus_scrapes_every_service_on_its_port_and_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: (job["dns_sd_configs"][0]["names"], job["dns_sd_configs"][0]["port"])
        for job in config["scrape_configs"]
    }
    containers = ours()
    for entry in SERVICES:
        port = port_of(entry.module, environment(containers[entry.name]))
        assert jobs[entry.name] == ([entry.name], port)
    mounts = dict(v.split(":")[:2][::-1] for v in compose()["services"]["prometheus"]["volumes"])
    assert Path(mounts["/etc/prometheus/rules"]) == Path("./prometheus/rules")
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]

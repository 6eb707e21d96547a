"""``deploy/k8s``: every overlay rendered with kustomize and validated against the Kubernetes
schemas (``kubernetes-validate``) and the vendored Strimzi and KEDA CRD schemas, then checked
against what the services need (probes, grace periods, settings, partitions, scaling)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ops.catalogue import SERVICES, consumer_groups
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared.settings import KafkaSettings
from tests.deploy.environment import known_variables, port_of, runnable, shutdown_grace
from tests.deploy.tools import DEPLOY, run, tool

K8S = DEPLOY / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
KUBERNETES_VERSION = "1.32.0"
CRDS = {
    "KafkaTopic": "strimzi-1.2.0-kafkatopic-crd.yaml",
    "ScaledObject": "keda-2.20.2-scaledobject-crd.yaml",
    "TriggerAuthentication": "keda-2.20.2-triggerauthentication-crd.yaml",
}
CO_PARTITIONED = ("events.normalized", "workflows.changelog")


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    result = run(tool("kubectl"), "kustomize", K8S / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


@functools.cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any]:
    crd = yaml.safe_load((DEPLOY / "schemas" / CRDS[kind]).read_text())
    version = api_version.split("/")[1]
    [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
    return schema


def config(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    """What a service's environment holds: the ConfigMap and the Secret it reads."""
    secret = of_kind(docs, "Secret")["workflow-secrets"]
    return {**of_kind(docs, "ConfigMap")["workflow-config"]["data"], **secret["stringData"]}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid_against_its_schema(overlay: str) -> None:
    docs = rendered(overlay)
    assert len(docs) > 20
    for doc in docs:
        if doc["kind"] in CRDS:
            jsonschema.validate(doc, crd_schema(doc["kind"], doc["apiVersion"]))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_checks_refuse_a_broken_resource() -> None:
    docs = rendered("production")
    deployment = dict(of_kind(docs, "Deployment")["executor"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    topic = of_kind(docs, "KafkaTopic")["events.normalized"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**topic, "spec": {"partitions": 0}}, crd_schema("KafkaTopic", topic["apiVersion"])
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_a_deployment_probed_on_its_own_port(overlay: str) -> None:
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    environment = config(docs)
    assert sorted(deployments) == sorted(entry.name for entry in SERVICES)
    for entry in SERVICES:
        spec = container(deployments[entry.name])
        assert spec["args"] == [entry.module]
        [port] = spec["ports"]
        assert port["containerPort"] == port_of(entry.module, environment)
        assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
        assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        resources = spec["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
        pod = deployments[entry.name]["spec"]["template"]
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == entry.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sigterm_gets_longer_than_the_services_shutdown_grace(overlay: str) -> None:
    docs = rendered(overlay)
    environment = config(docs)
    for entry in SERVICES:
        pod = of_kind(docs, "Deployment")[entry.name]["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > shutdown_grace(entry.module, environment) + 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_one_the_services_read_and_every_reference_exists(overlay: str) -> None:
    docs = rendered(overlay)
    environment = config(docs)
    shared_by_all = set.intersection(*(known_variables(entry.module) for entry in SERVICES))
    only_some = set.union(*(known_variables(entry.module) for entry in SERVICES)) - shared_by_all
    assert set(environment) - shared_by_all - only_some == set()
    secrets, maps = of_kind(docs, "Secret"), of_kind(docs, "ConfigMap")
    for workload in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]:
        pod = workload["spec"]["template"]["spec"]
        for source in container(workload)["envFrom"]:
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in maps
            else:
                assert source["secretRef"]["name"] in secrets
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
        mounted = {mount["mountPath"] for mount in container(workload).get("volumeMounts", [])}
        for variable in ("KAFKA_SSL_CAFILE", "DB_SSL_ROOT_CERT"):
            if variable in environment:
                assert str(Path(environment[variable]).parent) in mounted, (
                    variable,
                    workload["metadata"]["name"],
                )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget(overlay: str) -> None:
    docs = rendered(overlay)
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        selector = budgets[name]["spec"]["selector"]
        assert selector == deployment["spec"]["selector"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job_runs_every_services_migrations(overlay: str) -> None:
    job = of_kind(rendered(overlay), "Job")["workflow-migrate"]
    args = container(job)["args"]
    assert args[0] == "ops.migrate"
    assert runnable(args[0])
    images = {container(d)["image"] for d in of_kind(rendered(overlay), "Deployment").values()}
    assert images == {container(job)["image"]}
    assert len(images) == 1


def kafka_settings(environment: dict[str, str]) -> KafkaSettings:
    prefix = environment.get("TOPIC_PREFIX", "")
    return KafkaSettings(TOPIC_PREFIX=prefix, sasl_username="u", sasl_password="p")  # type: ignore[arg-type]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_exist_with_their_partition_counts_and_co_partitioned_ones_equal(
    overlay: str,
) -> None:
    docs = rendered(overlay)
    topics = {
        doc["spec"].get("topicName", name): doc["spec"]["partitions"]
        for name, doc in of_kind(docs, "KafkaTopic").items()
    }
    environment = config(docs)
    kafka = kafka_settings(environment)
    from ops.catalogue import all_topics  # noqa: PLC0415

    assert set(all_topics(kafka.topic_prefix)) <= set(topics)
    normalized, changelog = (f"{kafka.topic_prefix}{name}" for name in CO_PARTITIONED)
    assert topics[normalized] == topics[changelog]
    assert int(environment["KAFKA_TOPIC_PARTITIONS"]) == topics[normalized]
    for topic in of_kind(docs, "KafkaTopic").values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_matcher_and_executor_scale_on_their_lag_up_to_one_replica_per_partition(
    overlay: str,
) -> None:
    docs = rendered(overlay)
    environment = config(docs)
    kafka = kafka_settings(environment)
    groups = consumer_groups(
        IngestSettings(kafka=kafka),
        MatcherSettings(kafka=kafka),
        ExecutorSettings(kafka=kafka),
        SchedulerSettings(kafka=kafka),
    )
    partitions = {
        doc["spec"].get("topicName", name): doc["spec"]["partitions"]
        for name, doc in of_kind(docs, "KafkaTopic").items()
    }
    scaled = of_kind(docs, "ScaledObject")
    assert sorted(scaled) == ["executor", "matcher"]
    for name, scaler in scaled.items():
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        [trigger] = scaler["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        group, topic = trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]
        assert groups[group] == [topic], f"{name} scales on a group or topic it does not consume"
        assert scaler["spec"]["maxReplicaCount"] == partitions[topic]
        assert trigger["metadata"]["bootstrapServers"] == environment["KAFKA_BOOTSTRAP_SERVERS"]
        authentication = of_kind(docs, "TriggerAuthentication")[
            trigger["authenticationRef"]["name"]
        ]
        assert authentication
    autoscaled = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in of_kind(docs, "HorizontalPodAutoscaler").values()
    }
    assert autoscaled == {"config-api", "ingest"}
    assert "scheduler" not in autoscaled | set(scaled)

"""The alert rules: promtool's checks and unit tests, and what the rules may refer to."""

from __future__ import annotations

import re

import yaml

from deploy.metrics import exported_series, promql_metric_names
from tests.deploy.tools import DEPLOY, ROOT, run, tool

RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
OPERATIONS = ROOT / "docs" / "operations.md"


def rules() -> list[dict[str, object]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_the_rule_files_pass_promtool_check_rules() -> None:
    assert RULES
    result = run(tool("promtool"), "check", "rules", *RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    assert RULE_TESTS
    result = run(tool("promtool"), "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts - tested == set()


def test_the_compose_prometheus_configuration_passes_promtool() -> None:
    result = run(tool("promtool"), "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_expressions_name_only_exported_metrics_or_recorded_series() -> None:
    known = exported_series() | {str(rule["record"]) for rule in rules() if "record" in rule}
    unknown = {
        str(rule.get("alert", rule.get("record"))): promql_metric_names(str(rule["expr"])) - known
        for rule in rules()
    }
    assert {name: names for name, names in unknown.items() if names} == {}


def test_every_alert_has_a_severity_and_a_runbook_section_in_the_operations_guide() -> None:
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules():
        if "alert" not in rule:
            continue
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict), rule
        assert labels.get("severity") in ("critical", "warning"), rule
        assert isinstance(annotations, dict), rule
        anchor = str(annotations["runbook"]).removeprefix("docs/operations.md#")
        assert anchor in headings, f"{rule['alert']}: no section #{anchor} in {OPERATIONS}"

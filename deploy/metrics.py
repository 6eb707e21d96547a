"""Which metrics the services export, and which metrics a PromQL expression names.

``exported_series()`` imports every service's composition root, so that every collector the
code defines at import time is registered, and reads the series names off the registry: a
metric added anywhere in ``services/`` or ``shared/`` is known here without a list to keep.
``promql_metric_names`` is what the dashboard and alert checks compare against it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from ops.catalogue import SERVICES

SERVICE_ROOTS = [f"{entry.module}.service" for entry in SERVICES]
SHARED_COLLECTORS = ["shared.kafka.lag", "shared.observability"]

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}

SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus adds to every target itself."""


def registered_families() -> list[Metric]:
    """Every metric family registered once all the services' modules are imported."""
    for module in [*SHARED_COLLECTORS, *SERVICE_ROOTS]:
        importlib.import_module(module)
    # A labelled metric nobody has incremented yet is collected too, without samples.
    return list(REGISTRY.collect())


def label_names() -> dict[str, set[str]]:
    """Each registered metric's label names, also for metrics that have no series yet.

    prometheus-client keeps a metric's declared labels only on the metric object itself
    (``_labelnames``), so the registry's collectors are read; collectors of another kind
    (the process and platform collectors) contribute the labels of their samples.
    """
    registered_families()
    labels: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):
        declared = getattr(collector, "_labelnames", None)
        name = getattr(collector, "_name", None)
        if declared is not None and name is not None:
            labels.setdefault(name, set()).update(declared)
            continue
        for family in collector.collect():
            found = {key for sample in family.samples for key in sample.labels}
            labels.setdefault(family.name, set()).update(found - {"le", "quantile"})
    return labels


def series_names(family: Metric) -> set[str]:
    """The sample names a family exposes (``x_total`` for counter ``x``, ``_bucket`` …)."""
    return {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}


def exported_series() -> set[str]:
    """Every series name a service's ``/metrics`` can carry, plus Prometheus's own."""
    names: set[str] = set(SYNTHETIC)
    for family in registered_families():
        names |= series_names(family)
    return names


# PromQL, as far as finding the metric names in an expression needs: strings, label matchers,
# ranges and numbers are removed; what remains are identifiers that are either the language's
# words or metric names.
_KEYWORDS = frozenset(
    {
        # aggregation operators and their modifiers
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
        "and", "or", "unless", "atan2",
        # functions
        "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max",
        "clamp_min", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta",
        "deriv", "exp", "floor", "histogram_count", "histogram_sum", "histogram_fraction",
        "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate",
        "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
        "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
        "sqrt", "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time",
        "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
        "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
        "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
        "tan", "tanh", "deg", "rad", "pi", "inf", "nan",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER_UNIT = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]?\b", re.IGNORECASE)


def promql_metric_names(expression: str) -> set[str]:
    """The metric names ``expression`` selects (label names and the language's words excluded).

    Grafana variables (``$interval``, ``${group}``) are removed first.
    """
    text = _GRAFANA_VARIABLE.sub(" ", expression)
    text = _STRING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER_UNIT.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def unexported(expressions: Iterable[str], known: set[str]) -> dict[str, set[str]]:
    """Each expression naming a metric outside ``known``, with those names."""
    return {
        expression: missing
        for expression in expressions
        if (missing := promql_metric_names(expression) - known)
    }

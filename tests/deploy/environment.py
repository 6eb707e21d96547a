"""What a deployment file may set: the variables the settings classes know, per service."""

from __future__ import annotations

import importlib.util

from ops.catalogue import SERVICES, ServiceEntry, service_named
from shared.settings import SHARED_SETTINGS, environment_variables

TOOL_MODULES = {"ops.migrate": SHARED_SETTINGS}
"""The operator tools run from the image, and the settings they read."""


def known_variables(module: str) -> set[str]:
    """Every variable ``python -m <module>`` reads (nested settings included)."""
    if module in TOOL_MODULES:
        return {name for cls in TOOL_MODULES[module] for name, _, _ in environment_variables(cls)}
    return {name for name, _, _ in environment_variables(service_named(module).settings)}


def runnable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def entry(module: str) -> ServiceEntry | None:
    return next((service for service in SERVICES if service.module == module), None)


def port_of(module: str, environment: dict[str, str]) -> int:
    """The port the service listens on with ``environment``."""
    service = service_named(module)
    return int(environment.get(service.port_variable, service.default_port))


def shutdown_grace(module: str, environment: dict[str, str]) -> float:
    service = service_named(module)
    prefix = str(service.settings.model_config.get("env_prefix", ""))
    default = service.settings.model_fields["shutdown_grace_seconds"].default
    return float(environment.get(f"{prefix}SHUTDOWN_GRACE_SECONDS", default))

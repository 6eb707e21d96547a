"""Sending e-mail over SMTP: ``email`` actions and the failure notices of ``notifyOnFailure``.

One sender (aiosmtplib) for both, from ``EMAIL_FROM``: STARTTLS whenever the server offers it
(or TLS from the first byte with ``SMTP_IMPLICIT_TLS``), a login when ``SMTP_USERNAME`` is set.
An ``email`` action renders the tenant's named template — subject, text body and HTML body,
read through the config API's published view — or its own inline ``subject`` and ``body`` with
the event's data; data is HTML-escaped in the HTML body, and a template without one gets its
text body as HTML. Every message of a step has the same Message-ID (execution id + step), on
every attempt, so receiving systems can tell a repeat.

SMTP replies 4xx may succeed later, 5xx will not; a message some recipients refused is sent to
the others and the refusals are kept in the step log (sending it again would repeat it for the
ones who got it).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Final, Protocol

import aiosmtplib
import asyncpg
from prometheus_client import Counter

from services.executor.domain import StepOutcome, not_configured
from services.executor.settings import SmtpSettings
from shared.contracts import ExecutionRequest
from shared.postgres import Pool, Queries
from shared.workflows import render, render_action
from shared.workflows.actions import DEFAULT_EMAIL_RECIPIENT, Action, EmailAction, is_email_address
from shared.workflows.rendering import escape_html

log = logging.getLogger(__name__)

_QUERIES = Queries.load("services.executor")
DESTINATION: Final = "smtp"

FAILURE_NOTICES = Counter(
    "executor_failure_notices_total",
    "notifyOnFailure e-mails, by outcome (sent, failed, not_configured).",
    ["outcome"],
)


@dataclass(frozen=True, slots=True)
class EmailContent:
    """A named template as the config API publishes it (``html_body`` None: derive it)."""

    subject: str
    text_body: str
    html_body: str | None


class TemplatesUnavailable(Exception):
    """The config API's published templates cannot be read (its migrations have not run)."""


class EmailTemplates(Protocol):
    async def find(self, tenant_id: str, name: str) -> EmailContent | None:
        """The tenant's template ``name``, or None; raises ``TemplatesUnavailable``."""


class PublishedEmailTemplates(EmailTemplates):
    """Reads ``config_api_published.email_templates``, the config API's view."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def find(self, tenant_id: str, name: str) -> EmailContent | None:
        try:
            row = await self._pool.fetchrow(_QUERIES.email_template, tenant_id, name)
        except asyncpg.UndefinedTableError as error:
            raise TemplatesUnavailable(
                "the config API has not published its e-mail templates (run its migrations)"
            ) from error
        if row is None:
            return None
        return EmailContent(row["subject"], row["text_body"], row["html_body"])


def html_from_text(text: str) -> str:
    """An HTML body showing ``text`` as written: escaped, line breaks kept."""
    paragraphs = [part for part in text.strip().split("\n\n") if part.strip()]
    return "".join(
        f"<p>{escape_html(part.strip()).replace(chr(10), '<br>')}</p>" for part in paragraphs
    )


def one_line(text: str) -> str:
    """A header value: line breaks would start new headers (header injection)."""
    return " ".join(text.split())


def message_id(execution_id: str, step: int | str, sender: str) -> str:
    """The step's Message-ID, the same on every attempt: ``<exe_….2@sender-domain>``."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{execution_id}.{step}@{domain}>"


def compose(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str,
    message_id: str,
) -> EmailMessage:
    """A multipart/alternative message with a text and an HTML part."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(subject)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def smtp_failure(error: Exception, summary: Mapping[str, Any]) -> StepOutcome:
    """What an SMTP error means for the step: 4xx replies, timeouts and lost connections may
    pass on another attempt; 5xx replies, refused logins and bad certificates will not."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        details = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return StepOutcome.failed(
            "smtp_error",
            f"every recipient was refused: {details}",
            attempts=1,
            request=summary,
            transient=all(400 <= code < 500 for code in codes),
            destination=DESTINATION,
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return StepOutcome.failed(
            "smtp_error",
            f"the SMTP server answered {error.code} {error.message}",
            attempts=1,
            request=summary,
            transient=400 <= error.code < 500,
            destination=DESTINATION,
        )
    certificate = isinstance(error, ssl.SSLError) or isinstance(error.__cause__, ssl.SSLError)
    return StepOutcome.failed(
        "delivery_failed",
        f"SMTP: {error}" if str(error) else f"SMTP: {type(error).__name__}",
        attempts=1,
        request=summary,
        transient=not certificate,
        destination=DESTINATION,
    )


class EmailSender:
    """Sends ``email`` actions and failure notices through the configured SMTP server."""

    def __init__(self, settings: SmtpSettings, templates: EmailTemplates) -> None:
        self._settings = settings
        self._templates = templates

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        """One attempt at the ``email`` step ``step_index`` of ``request``."""
        if not isinstance(action, EmailAction):
            raise TypeError(f"not an email action: {action.type!r}")
        now = datetime.now(UTC)
        data = request.event.data
        rendered = render_action(action, data, now)
        recipients = [
            str(address).strip()
            for address in rendered.fields.get("to")
            or [render(DEFAULT_EMAIL_RECIPIENT, data, now).text]
        ]
        summary: dict[str, Any] = {"to": recipients}
        if action.template is not None:
            summary["template"] = action.template
        invalid = next((address for address in recipients if not is_email_address(address)), None)
        if invalid is not None:
            return StepOutcome.failed(
                "invalid_recipient",
                f"a recipient renders to {invalid[:80]!r}, which is not an e-mail address",
                attempts=0,
                request=summary,
            )
        if not self._settings.configured:
            return not_configured("e-mail is not configured: set SMTP_HOST and EMAIL_FROM", summary)
        if action.template is None:
            subject = str(rendered.fields["subject"])
            text = str(rendered.fields["body"])
            html = html_from_text(text)
        else:
            try:
                content = await self._templates.find(request.tenant_id, action.template)
            except TemplatesUnavailable as error:
                return StepOutcome.failed(
                    "templates_unavailable", str(error), attempts=0, request=summary, transient=True
                )
            if content is None:
                return StepOutcome.failed(
                    "template_not_found",
                    f"this tenant has no e-mail template named {action.template!r}",
                    attempts=0,
                    request=summary,
                )
            subject = render(content.subject, data, now).text
            text = render(content.text_body, data, now).text
            html = (
                render(content.html_body, data, now, escape=escape_html).text
                if content.html_body is not None
                else html_from_text(text)
            )
        identifier = message_id(request.execution_id, step_index, self._settings.email_from)
        summary.update({"subject": one_line(subject), "messageId": identifier})
        message = compose(
            sender=self._settings.email_from,
            recipients=recipients,
            subject=subject,
            text=text,
            html=html,
            message_id=identifier,
        )
        try:
            refused = await self._send(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return smtp_failure(error, summary)
        return StepOutcome(
            status="succeeded",
            attempts=1,
            request=summary,
            destination=DESTINATION,
            result={"messageId": identifier, "refused": refused}
            if refused
            else {"messageId": identifier},
        )

    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        """E-mail ``notifyOnFailure`` that ``request``'s execution failed with ``error``.

        Best effort, and never raises: a notice that cannot be sent is logged and counted
        (``executor_failure_notices_total``); the failed execution stays recorded and
        dead-lettered either way. Its Message-ID is derived from the execution, so a repeated
        notice is recognisable as the same one.
        """
        now = datetime.now(UTC)
        addresses = [
            render(address, request.event.data, now).text.strip()
            for address in request.workflow.error_handling.notify_on_failure
        ]
        recipients = [address for address in addresses if is_email_address(address)]
        if not recipients:
            return
        if not self._settings.configured:
            FAILURE_NOTICES.labels("not_configured").inc()
            log.warning(
                "failure notice not sent: e-mail is not configured",
                extra={"execution_id": request.execution_id},
            )
            return
        subject, text = failure_notice(request, error)
        message = compose(
            sender=self._settings.email_from,
            recipients=recipients,
            subject=subject,
            text=text,
            html=html_from_text(text),
            message_id=message_id(request.execution_id, "failure", self._settings.email_from),
        )
        try:
            await self._send(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            FAILURE_NOTICES.labels("failed").inc()
            log.warning(
                "failure notice not sent: %s",
                failure,
                extra={"execution_id": request.execution_id},
            )
            return
        FAILURE_NOTICES.labels("sent").inc()

    async def _send(self, message: EmailMessage) -> dict[str, str]:
        """Send ``message``; returns the recipients refused (the rest got it)."""
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password is not None else None
        errors, _ = await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=password if settings.username else None,
            use_tls=settings.implicit_tls,
            start_tls=False if settings.implicit_tls else None,
            cert_bundle=settings.ca_file or None,
            timeout=settings.timeout_seconds,
        )
        return {recipient: f"{reply.code} {reply.message}" for recipient, reply in errors.items()}


def failure_notice(request: ExecutionRequest, error: Mapping[str, Any]) -> tuple[str, str]:
    """The subject and text of a ``notifyOnFailure`` e-mail."""
    workflow = request.workflow
    step = error.get("step")
    lines = [
        f"The workflow {workflow.name!r} failed.",
        "",
        f"Workflow: {request.workflow_id} (version {request.workflow_version})",
        f"Execution: {request.execution_id}",
        f"Event: {request.event.type} {request.event.id}",
    ]
    if step is not None:
        lines.append(f"Failed step: {step} ({error.get('actionType', 'action')})")
    lines.append(f"Error: {error.get('code', 'error')}: {error.get('message', '')}")
    lines += [
        "",
        "The execution's history shows every step: GET /api/executions/" + request.execution_id,
    ]
    return f"Workflow failed: {workflow.name}", "\n".join(lines)

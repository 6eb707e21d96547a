"""E-mail over a real SMTP server (aiosmtpd): named templates through the config API's published
view, STARTTLS and a login, SMTP's answers, and the failure notices of notifyOnFailure."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.executor.adapters.email import EmailSender, PublishedEmailTemplates
from services.executor.domain import StepOutcome
from services.executor.settings import SmtpSettings
from shared.postgres import Pool
from shared.testing.smtp import SmtpSink, self_signed_certificate
from tests.integration.executor.conftest import EMAIL_FROM, add_email_template, request_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("config_api_views")]

TEMPLATE = {"type": "email", "to": ["sales-leadership@company.com"], "template": "high-value-deal"}


def sender_for(pool: Pool, sink: SmtpSink, **settings: object) -> EmailSender:
    smtp = SmtpSettings(host=sink.host, port=sink.port, EMAIL_FROM=EMAIL_FROM, **settings)  # type: ignore[arg-type]
    return EmailSender(smtp, PublishedEmailTemplates(pool))


def failed_with(outcome: StepOutcome, code: str) -> str:
    assert outcome.status == "failed", outcome
    assert outcome.error is not None
    assert outcome.error.code == code, outcome.error
    return outcome.error.message


async def test_a_named_template_is_rendered_into_text_and_html_parts(
    pool: Pool, smtp_sink: SmtpSink, tenant_id: str
) -> None:
    await add_email_template(
        pool,
        tenant_id,
        "high-value-deal",
        "Big win: {{customerName}} accepted ${{value}}",
        "{{customerName}} bought {{productName}}.\n\n{{#if value > 100000}}Needs approval.{{/if}}",
        "<h1>{{customerName}}</h1><p>{{productName}}</p>",
    )
    request = request_for(
        tenant_id,
        [TEMPLATE],
        data={"customerName": "Globex <Labs>", "productName": "DataPipe", "value": 150000},
    )
    outcome = await sender_for(pool, smtp_sink).perform(request, 1, request.workflow.actions[0])

    assert outcome.status == "succeeded", outcome
    [mail] = smtp_sink.messages
    assert mail.recipients == ["sales-leadership@company.com"]
    assert mail.message["From"] == EMAIL_FROM
    assert mail.message["Subject"] == "Big win: Globex <Labs> accepted $150000"
    assert mail.body("plain").strip() == "Globex <Labs> bought DataPipe.\n\nNeeds approval."
    # Data is escaped in the HTML body; the template's own markup is not.
    assert mail.body("html").strip() == "<h1>Globex &lt;Labs&gt;</h1><p>DataPipe</p>"
    message_id = f"<{request.execution_id}.1@acme.test>"
    assert mail.message["Message-ID"] == message_id
    assert outcome.result == {"messageId": message_id}
    assert outcome.request["subject"] == mail.message["Subject"]
    assert outcome.destination == "smtp"


async def test_a_template_without_html_and_an_inline_email_get_html_from_their_text(
    pool: Pool, smtp_sink: SmtpSink, tenant_id: str
) -> None:
    await add_email_template(
        pool, tenant_id, "welcome", "Welcome", "Hello {{customerName}},\nwelcome & thanks.", None
    )
    request = request_for(
        tenant_id,
        [
            {"type": "email", "to": ["{{customerEmail}}"], "template": "welcome"},
            {"type": "email", "subject": "Hi {{customerName}}", "body": "Line one\nLine <two>"},
        ],
        data={"customerName": "Globex", "customerEmail": "buyer@globex.test"},
    )
    sender = sender_for(pool, smtp_sink)
    for index, action in enumerate(request.workflow.actions):
        assert (await sender.perform(request, index, action)).status == "succeeded"

    templated, inline = smtp_sink.messages
    assert templated.recipients == ["buyer@globex.test"]
    assert templated.body("html").strip() == "<p>Hello Globex,<br>welcome &amp; thanks.</p>"
    # Without "to", an e-mail goes to the event's customer.
    assert inline.recipients == ["buyer@globex.test"]
    assert inline.message["Subject"] == "Hi Globex"
    assert inline.body("html").strip() == "<p>Line one<br>Line &lt;two&gt;</p>"


async def test_starttls_is_used_when_offered_and_the_login_is_sent_over_it(
    pool: Pool, tenant_id: str, tmp_path: Path
) -> None:
    certificate = self_signed_certificate(tmp_path)
    sink = SmtpSink(certificate=certificate, login=("mailer", "s3cret-pass"))
    await sink.start()
    try:
        await add_email_template(
            pool, tenant_id, "high-value-deal", "Win", "{{customerName}}", None
        )
        request = request_for(tenant_id, [TEMPLATE])
        action = request.workflow.actions[0]
        secure = sender_for(
            pool,
            sink,
            username="mailer",
            password=SecretStr("s3cret-pass"),
            ca_file=str(certificate[0]),
        )
        assert (await secure.perform(request, 0, action)).status == "succeeded"

        wrong = sender_for(
            pool, sink, username="mailer", password=SecretStr("nope"), ca_file=str(certificate[0])
        )
        refused = await wrong.perform(request, 0, action)
        assert "535" in failed_with(refused, "smtp_error")
        assert not refused.transient

        untrusted = sender_for(pool, sink, username="mailer", password=SecretStr("s3cret-pass"))
        unverified = await untrusted.perform(request, 0, action)
        failed_with(unverified, "delivery_failed")
        assert not unverified.transient
    finally:
        await sink.stop()

    [mail] = sink.messages
    assert (mail.tls, mail.login) == (True, "mailer")


async def test_smtp_answers_4xx_transient_5xx_final_and_partial_refusals_are_kept(
    pool: Pool, smtp_sink: SmtpSink, tenant_id: str
) -> None:
    await add_email_template(pool, tenant_id, "high-value-deal", "Win", "body", None)
    smtp_sink.answer_data_next("451 4.3.0 Try again later", "554 5.7.1 Message rejected")
    request = request_for(tenant_id, [{**TEMPLATE, "to": ["a@acme.test", "gone@acme.test"]}])
    action = request.workflow.actions[0]
    sender = sender_for(pool, smtp_sink)

    busy = await sender.perform(request, 0, action)
    assert "451" in failed_with(busy, "smtp_error")
    assert busy.transient
    rejected = await sender.perform(request, 0, action)
    assert "554" in failed_with(rejected, "smtp_error")
    assert not rejected.transient

    smtp_sink.refuse_recipient("gone@acme.test")
    partial = await sender.perform(request, 0, action)
    assert partial.status == "succeeded", partial
    assert partial.result["refused"] == {"gone@acme.test": "550 5.1.1 No such user here"}
    assert smtp_sink.messages[-1].recipients == ["a@acme.test"]


async def test_a_missing_template_a_bad_recipient_and_no_smtp_fail_clearly(
    pool: Pool, smtp_sink: SmtpSink, tenant_id: str
) -> None:
    missing = request_for(tenant_id, [{**TEMPLATE, "template": "no-such-template"}])
    outcome = await sender_for(pool, smtp_sink).perform(missing, 0, missing.workflow.actions[0])
    assert "no e-mail template named 'no-such-template'" in failed_with(
        outcome, "template_not_found"
    )
    assert not outcome.transient

    nobody = request_for(
        tenant_id, [{"type": "email", "to": ["{{accountOwnerEmail}}"], "template": "x"}], data={}
    )
    outcome = await sender_for(pool, smtp_sink).perform(nobody, 0, nobody.workflow.actions[0])
    assert "not an e-mail address" in failed_with(outcome, "invalid_recipient")

    unconfigured = EmailSender(SmtpSettings(), PublishedEmailTemplates(pool))
    outcome = await unconfigured.perform(missing, 0, missing.workflow.actions[0])
    assert "SMTP_HOST" in failed_with(outcome, "not_configured")
    assert smtp_sink.messages == []


async def test_a_failure_notice_goes_to_notify_on_failure_once_per_call(
    pool: Pool, smtp_sink: SmtpSink, tenant_id: str
) -> None:
    request = request_for(
        tenant_id,
        [{"type": "slack", "channel": "#x", "message": "hi"}],
        error_handling={"notifyOnFailure": ["admin@company.com", "{{accountOwnerEmail}}"]},
    )
    error = {
        "code": "slack_error",
        "message": "Slack refused the message: channel_not_found",
        "step": 0,
        "actionType": "slack",
    }
    await sender_for(pool, smtp_sink).notify_failure(request, error)

    [notice] = smtp_sink.messages
    assert notice.recipients == ["admin@company.com", "owner@acme.test"]
    assert notice.message["Subject"] == "Workflow failed: Deal actions"
    assert notice.message["Message-ID"] == f"<{request.execution_id}.failure@acme.test>"
    text = notice.body("plain")
    assert request.execution_id in text
    assert "Failed step: 0 (slack)" in text
    assert "slack_error: Slack refused the message: channel_not_found" in text

"""The whole catalogue through the real executor (Kafka in, PostgreSQL step log), against the
providers' stand-ins: every step recorded with what it sent and produced, failure notices."""

from __future__ import annotations

import aiohttp
import pytest

from services.executor.service import ExecutorService
from shared.postgres import Pool
from shared.settings import KafkaSettings
from shared.testing.providers import ProviderFakes, slack_error
from shared.testing.smtp import SmtpSink
from shared.workflows import ACTION_TYPES
from tests.integration.executor.conftest import (
    StartExecutor,
    add_email_template,
    as_record,
    dead_lettered_execution,
    finished_execution,
    produce,
    provider_settings,
    request_for,
    steps_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("config_api_views")]


async def test_a_workflow_using_every_provider_records_each_step_with_its_result(
    start_executor: StartExecutor,
    fakes: ProviderFakes,
    smtp_sink: SmtpSink,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    await start_executor(**provider_settings(fakes, smtp_sink))
    await add_email_template(
        pool, tenant_id, "high-value-deal", "Win: {{customerName}}", "{{value}}", None
    )
    actions = [
        {
            "type": "slack",
            "channel": "#sales-wins",
            "message": "🎉 Big Win! {{customerName}} - ${{value}}",
        },
        {"type": "email", "to": ["sales-leadership@company.com"], "template": "high-value-deal"},
        {
            "type": "salesforce_create",
            "object": "Opportunity",
            "mapping": {
                "Name": "{{customerName}} - {{productName}}",
                "Amount": "{{value}}",
                "StageName": "Closed Won",
            },
        },
        {
            "type": "hubspot_create",
            "object": "deals",
            "mapping": {"dealname": "{{customerName}}", "amount": "{{value}}"},
        },
        {"type": "teams", "message": "{{customerName}} signed"},
        {"type": "call_api", "url": fakes.webhook_url("erp"), "body": {"amount": "{{value}}"}},
        {"type": "webhook", "url": fakes.webhook_url("partner")},
        {"type": "create_task", "title": "Celebrate {{customerName}}", "assignTo": "account_owner"},
        {"type": "trigger_workflow", "workflowId": "wf_next"},
    ]
    request = request_for(tenant_id, actions)
    await produce(kafka_settings, as_record(request))

    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "succeeded", execution["error"]
    steps = await steps_of(pool, request.execution_id)
    assert [(s["action_type"], s["status"], s["attempts"]) for s in steps] == [
        (action["type"], "succeeded", 1) for action in actions
    ]
    by_type = {s["action_type"]: s for s in steps}
    assert by_type["slack"]["result"]["ts"]
    assert by_type["email"]["result"]["messageId"] == f"<{request.execution_id}.1@acme.test>"
    opportunity = by_type["salesforce_create"]["result"]["id"]
    assert fakes.salesforce_records[("Opportunity", opportunity)] == {
        "Name": "Globex - DataPipe",
        "Amount": 150000,
        "StageName": "Closed Won",
    }
    assert by_type["hubspot_create"]["result"]["id"]
    assert by_type["call_api"]["result"]["status"] == 200
    assert by_type["create_task"]["result"]["assignee"] == "owner@acme.test"
    assert by_type["trigger_workflow"]["result"]["eventId"] == f"chain:{request.execution_id}:8"
    assert [m.message["Subject"] for m in smtp_sink.messages] == ["Win: Globex"]
    # No credential reached the step log.
    assert fakes.token not in str([s["request"] for s in steps] + [s["result"] for s in steps])


async def test_a_failed_execution_notifies_the_addresses_in_notify_on_failure(
    start_executor: StartExecutor,
    fakes: ProviderFakes,
    smtp_sink: SmtpSink,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    executor = await start_executor(**provider_settings(fakes, smtp_sink))
    fakes.answer_next("slack", slack_error("channel_not_found"))
    request = request_for(
        tenant_id,
        [
            {"type": "slack", "channel": "#gone", "message": "hi"},
            {"type": "tag", "tags": ["never"]},
        ],
        error_handling={"notifyOnFailure": ["ops@acme.test"]},
    )
    await produce(kafka_settings, as_record(request))

    execution = await dead_lettered_execution(pool, request.execution_id)
    assert execution["error"]["code"] == "slack_error"
    assert "channel_not_found" in execution["error"]["message"]
    [notice] = await smtp_sink.wait_for(1)
    assert notice.recipients == ["ops@acme.test"]
    assert "channel_not_found" in notice.body("plain")
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"], step["response_status"]) == ("failed", 1, 200)

    async with aiohttp.ClientSession() as http:
        metrics = await (
            await http.get(f"http://127.0.0.1:{executor.http.bound_port}/metrics")
        ).text()
    assert 'executor_action_errors_total{action_type="slack",code="slack_error"}' in metrics
    assert 'executor_failure_notices_total{outcome="sent"}' in metrics


async def test_every_action_but_delay_has_a_performer_and_one_without_credentials_fails_clearly(
    executor: ExecutorService, kafka_settings: KafkaSettings, pool: Pool, tenant_id: str
) -> None:
    assert set(executor.actions) == set(ACTION_TYPES) - {"delay"}
    request = request_for(
        tenant_id, [{"type": "hubspot_create", "object": "deals", "mapping": {"dealname": "x"}}]
    )
    await produce(kafka_settings, as_record(request))
    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "not_configured"
    assert "HUBSPOT_ACCESS_TOKEN" in execution["error"]["message"]

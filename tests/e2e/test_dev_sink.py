"""The ``make run`` development sink as a real process: it answers as the providers do, takes
e-mail over SMTP, and lists what it was sent; ``make run`` points unconfigured providers at it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage

import aiohttp
import aiosmtplib
import pytest

from deploy.local.__main__ import DevStack
from shared.testing import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def sink() -> Iterator[tuple[int, int]]:
    port, smtp_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.sink"],
        env={"SINK_PORT": str(port), "SINK_SMTP_PORT": str(smtp_port), "PATH": "/usr/bin:/bin"},
    )
    try:
        yield port, smtp_port
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


async def test_the_sink_answers_as_the_providers_and_lists_what_it_was_sent(
    sink: tuple[int, int],
) -> None:
    port, smtp_port = sink
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with http.get(f"{base}/readyz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        bearer = {"Authorization": "Bearer dev-token"}
        async with http.post(
            f"{base}/slack/api/chat.postMessage",
            json={"channel": "#x", "text": "hi"},
            headers=bearer,
        ) as slack:
            assert (await slack.json())["ok"] is True
        async with http.post(f"{base}/webhooks/hook", json={"n": 1}) as hook:
            assert hook.status == 200
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "Hello"
        message.set_content("body")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port)
        async with http.get(f"{base}/sent") as listing:
            items = (await listing.json())["items"]
        async with http.get(f"{base}/") as page:
            assert "What the workflows sent" in await page.text()
    assert [item["provider"] for item in items] == ["smtp", "webhook", "slack"]
    assert items[0]["headers"]["Subject"] == "Hello"
    assert items[2]["headers"]["Authorization"] == "(redacted)"


def test_make_run_sends_only_providers_without_credentials_to_the_sink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in (
        "SLACK_BOT_TOKEN",
        "TEAMS_WEBHOOK_URL",
        "SALESFORCE_ACCESS_TOKEN",
        "SMTP_HOST",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-real")
    monkeypatch.setenv("HUBSPOT_API_URL", "https://api.hubapi.com")
    stack = DevStack()
    assert stack.sunk == ["Slack", "Teams", "Salesforce", "e-mail"]
    assert stack.env["SLACK_API_URL"] == f"{stack.sink_url}/slack/api"
    assert stack.env["SMTP_HOST"] == "127.0.0.1"
    assert stack.env["HUBSPOT_API_URL"] == "https://api.hubapi.com"
    assert stack.env["HUBSPOT_ACCESS_TOKEN"] == "pat-real"

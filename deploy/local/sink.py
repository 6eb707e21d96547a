"""``python -m deploy.local.sink``: the development sink that ``make run`` points providers at.

It answers as Slack, Microsoft Teams, Salesforce and HubSpot do, receives webhooks (under
``/webhooks/``) and e-mail (a real SMTP server), keeps everything, and lists it newest first at
``http://127.0.0.1:$SINK_PORT/`` (``/sent`` as JSON). Nothing leaves the machine. What it keeps
lives as long as the process.

- ``SINK_PORT`` (8090): HTTP (the providers, the webhook receiver, the listing).
- ``SINK_SMTP_PORT`` (2525): SMTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from shared.testing.providers import ProviderFakes
from shared.testing.smtp import SmtpSink

log = logging.getLogger("sink")

DEFAULT_PORT = 8090
DEFAULT_SMTP_PORT = 2525


async def serve(port: int, smtp_port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    fakes, smtp = ProviderFakes(), SmtpSink(port=smtp_port)
    fakes.extra_sent = lambda: [mail.as_sent() for mail in smtp.messages]
    await smtp.start()
    await fakes.start(port=port)
    log.info("development sink on %s (SMTP on port %s)", fakes.base_url, smtp.port)
    try:
        await stopping.wait()
    finally:
        await fakes.stop()
        await smtp.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sink: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    port = int(os.environ.get("SINK_PORT", DEFAULT_PORT))
    smtp_port = int(os.environ.get("SINK_SMTP_PORT", DEFAULT_SMTP_PORT))
    asyncio.run(serve(port, smtp_port))


if __name__ == "__main__":
    main()

"""``python -m services.config_api``: run the service; with a command, run that operator command.

``python -m services.config_api --help`` lists the commands (tenants, API keys, templates).
"""

import asyncio
import sys

from services.config_api import cli
from services.config_api.settings import ConfigApiSettings
from shared.observability import configure_logging


def main() -> None:
    settings = ConfigApiSettings()
    if len(sys.argv) > 1:
        raise SystemExit(cli.main(sys.argv[1:], settings))
    # Imported here: the commands need neither Kafka nor the HTTP server (half their start-up).
    from services.config_api.service import ConfigApiService  # noqa: PLC0415

    configure_logging(settings.observability, service="config-api")
    asyncio.run(ConfigApiService(settings).run())


if __name__ == "__main__":
    main()

"""``python -m services.config_api``: read settings, build, run."""

import asyncio

from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.observability import configure_logging


def main() -> None:
    settings = ConfigApiSettings()
    configure_logging(settings.observability, service="config-api")
    asyncio.run(ConfigApiService(settings).run())


if __name__ == "__main__":
    main()

"""``python -m services.executor``: read settings, build, run."""

import asyncio

from services.executor.service import ExecutorService
from services.executor.settings import ExecutorSettings
from shared.observability import configure_logging


def main() -> None:
    settings = ExecutorSettings()
    configure_logging(settings.observability, service="executor")
    asyncio.run(ExecutorService(settings).run())


if __name__ == "__main__":
    main()

"""``python -m services.scheduler``: read settings, build, run."""

import asyncio

from services.scheduler.service import ScheduleService
from services.scheduler.settings import SchedulerSettings
from shared.observability import configure_logging


def main() -> None:
    settings = SchedulerSettings()
    configure_logging(settings.observability, service="scheduler")
    asyncio.run(ScheduleService(settings).run())


if __name__ == "__main__":
    main()

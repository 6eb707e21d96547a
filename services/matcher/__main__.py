"""``python -m services.matcher``: read settings, build, run."""

import asyncio

from services.matcher.service import MatcherService
from services.matcher.settings import MatcherSettings
from shared.observability import configure_logging


def main() -> None:
    settings = MatcherSettings()
    configure_logging(settings.observability, service="matcher")
    asyncio.run(MatcherService(settings).run())


if __name__ == "__main__":
    main()

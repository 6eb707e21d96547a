"""``python -m services.ingest``: read settings, build, run."""

import asyncio

from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from shared.observability import configure_logging


def main() -> None:
    settings = IngestSettings()
    configure_logging(settings.observability, service="ingest")
    asyncio.run(IngestService(settings).run())


if __name__ == "__main__":
    main()

"""``python -m ops.migrate``: the one-shot migration job (compose's ``migrate``, the k8s Job).

Applies every service's database migrations under their advisory lock and, with ``--topics``,
creates every topic with ``KAFKA_TOPIC_PARTITIONS`` partitions (co-partitioned topics thus
equal). Run it before rolling out a new version; the services also migrate at start, so a
forgotten job delays nothing, but then the first replica to start does the work. Exit status 0
when done, 1 when the database or broker could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ops.catalogue import all_topics, migrate_all
from shared.kafka import ensure_topics
from shared.observability import configure_logging
from shared.postgres import create_pool
from shared.settings import KafkaSettings, ObservabilitySettings, PostgresSettings

log = logging.getLogger("ops.migrate")


async def run(*, topics: bool) -> None:
    postgres = PostgresSettings()
    pool = await create_pool(postgres, application_name="migrate")
    try:
        await migrate_all(pool)
    finally:
        await pool.close()
    log.info("database migrated")
    if topics:
        kafka = KafkaSettings()
        await ensure_topics(kafka, all_topics(kafka.topic_prefix))
        log.info("topics ensured", extra={"partitions": kafka.topic_partitions})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.migrate", description=__doc__.split("\n\n")[1] if __doc__ else None
    )
    parser.add_argument(
        "--topics", action="store_true", help="also create every topic (KAFKA_TOPIC_PARTITIONS)"
    )
    args = parser.parse_args(argv)
    configure_logging(ObservabilitySettings(), service="migrate")
    try:
        asyncio.run(run(topics=args.topics))
    except (OSError, ConnectionError) as error:
        log.error("migration failed: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

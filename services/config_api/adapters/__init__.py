"""The config API's I/O: PostgreSQL repository, outbox relay to Kafka, HTTP routes."""

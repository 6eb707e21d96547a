"""Ingest's I/O: the Kafka sink and inbound consumer, the HTTP routes."""

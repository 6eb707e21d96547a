"""Ingest: accepts events over HTTP and from ``events.inbound`` and publishes the envelope."""

"""``wf``: the operator CLI over the config API and Kafka (``wf --help``)."""

from ops.cli.main import main

__all__ = ["main"]

"""Operator tools: the ``wf`` CLI, the one-shot migration, the container probe."""

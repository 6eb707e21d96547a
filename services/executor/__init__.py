"""Executor: performs the actions of each requested execution, step by step, and records them."""

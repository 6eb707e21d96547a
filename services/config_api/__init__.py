"""Config API: workflows, their versions and execution history, over REST (SPEC §4)."""

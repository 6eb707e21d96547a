"""Scheduler: fires ``schedule.cron`` workflows on their cron expression, once per slot."""

"""The scheduler's metrics (no tenant labels: their number is unbounded)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400)

TIME_EVENTS_EMITTED = Counter(
    "scheduler_time_events_emitted_total",
    "Time events acknowledged by the broker, by type (one re-emitted after a crash counts again).",
    ["type"],
)
CRON_SLOTS_SKIPPED = Counter(
    "scheduler_cron_slots_skipped_total",
    "Missed cron slots of catchUp: skip schedules, advanced without an event.",
)
CRON_LATENESS_SECONDS = Histogram(
    "scheduler_cron_lateness_seconds",
    "How long after its scheduled time a cron slot was fired.",
    buckets=LATENESS_BUCKETS,
)
TIMERS_STORED = Counter(
    "scheduler_timers_stored_total", "executions.deferred records stored as timers."
)
TIMERS_FIRED = Counter(
    "scheduler_timers_fired_total",
    "Timers whose request the broker acknowledged on executions.requested.",
)
TIMER_LATENESS_SECONDS = Histogram(
    "scheduler_timer_lateness_seconds",
    "How long after its due time a timer's request was acknowledged by the broker.",
    buckets=LATENESS_BUCKETS,
)
TIMERS_PENDING = Gauge("scheduler_timers_pending", "Timers stored and not yet fired.")
CONTRACTS_TRACKED = Gauge("scheduler_contracts_tracked", "Active contracts in the projection.")
CONTRACT_EVENTS_LEARNED = Counter(
    "scheduler_contract_events_learned_total", "Contract events applied to the projection."
)
CONTRACT_EVENTS_REJECTED = Counter(
    "scheduler_contract_events_rejected_total",
    "Contract events recorded in contract_rejections (no contract id, unreadable end date).",
)
RECORDS_SKIPPED = Counter(
    "scheduler_records_skipped_total",
    "Records the scheduler could not decode, by topic (skipped or dead-lettered).",
    ["topic"],
)

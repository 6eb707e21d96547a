"""The scheduler's I/O: the schedule table, the event publisher and changelog reader, the tick loop."""

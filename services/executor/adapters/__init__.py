"""The executor's I/O: the execution store, the Kafka consumer and dead letters, action performers."""

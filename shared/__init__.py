"""The project's shared package: what two or more services need, in named rooms.

- ``contracts``: every Kafka payload and the topic it travels on.
- ``workflows``: the workflow model, the condition evaluator and the template renderer (pure).
- ``clients``: the topics, migrated pool and producer every service opens at start.
- ``kafka``, ``postgres``: client construction, topic creation, migrations, the outbox.
- ``observability``: JSON logs, Prometheus metrics, the health/readiness HTTP server.
- ``lifecycle``: how every service starts, runs and stops.
- ``settings``: the environment variables every service shares.
- ``tenancy``: tenants and hashed API keys (config API and ingest both authenticate with them).
- ``testing``: fakes and the embedded broker / database processes for tests and ``make run``.
"""

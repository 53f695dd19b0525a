"""Kafka and Redis plumbing every process shares: topic administration, consumer lag, reading
a partition from its start, and the Redis clients of the stores. Bottom layer: imports only
`abm` and the topic contract (`stream.topics`)."""
